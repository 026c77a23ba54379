-- Reverse of 0007_sharing_policy_up.sql: the generated district schemas go with it.
do $$
declare
    district_schema text;
begin
    for district_schema in select nspname from pg_namespace where nspname ~ '^share_\d{6}$' loop
        execute format('drop schema %I cascade', district_schema);
    end loop;
end
$$;
drop schema if exists share_secret cascade;
drop policy if exists district_rows on library.land_parcel;
alter table library.land_parcel disable row level security;
revoke all on library.land_parcel from tierflow_share;
update feed.run set status = 'published' where status = 'empty';
alter table feed.run drop constraint if exists run_status_check;
alter table feed.run add constraint run_status_check check (status in ('writing', 'published'));
alter table feed.run
    drop column if exists kind,
    drop column if exists demand_ids,
    drop column if exists key_treatment,
    drop column if exists purge_reason,
    drop column if exists planned_at;
delete from quality.delivery_audit where status = 'rejected';
alter table quality.delivery_audit drop constraint if exists delivery_audit_status_check;
alter table quality.delivery_audit add constraint delivery_audit_status_check
    check (status in ('on_time', 'late', 'missing'));
