-- Reverse of 0003_sink_up.sql and 0003_share_up.sql (district roles: tierflow.sink.share).
drop schema if exists share cascade;
drop policy if exists district_rows on library.person;
drop policy if exists district_rows on library.legal_entity;
drop policy if exists district_rows on library.e_license;
drop policy if exists district_rows on library.address;
alter table library.person       disable row level security;
alter table library.legal_entity disable row level security;
alter table library.e_license    disable row level security;
alter table library.address      disable row level security;
do $$
begin
    if exists (select from pg_roles where rolname = 'tierflow_share') then
        revoke all on library.person, library.legal_entity, library.e_license, library.address from tierflow_share;
        revoke usage on schema library, thematic from tierflow_share;
        execute 'drop owned by tierflow_share';
    end if;
end
$$;
drop table if exists quality.audit_alert, quality.quarantine_rate, quality.delivery_audit;
alter table feed.run drop column if exists status, drop column if exists as_of;
drop table if exists feed.consumer;
drop table if exists thematic.report_run, thematic.load_watermark;
drop table if exists thematic.truck_gps cascade;
drop table if exists thematic.service_case_history, thematic.service_case;
-- one index per command: Citus drops one distributed object at a time
drop index if exists library.person_history_feed;
drop index if exists library.legal_entity_history_feed;
drop index if exists library.land_parcel_history_feed;
drop index if exists library.address_history_feed;
drop index if exists library.e_license_history_feed;
drop index if exists library.person_history_opened;
drop index if exists library.legal_entity_history_opened;
drop index if exists library.land_parcel_history_opened;
drop index if exists library.address_history_opened;
drop index if exists library.e_license_history_opened;
drop table if exists library.district_boundary;
