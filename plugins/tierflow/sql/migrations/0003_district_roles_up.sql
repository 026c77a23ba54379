-- One read-only role per pilot district, district_<code> (codes: {codes}, checked to be six
-- digits by the migration), created when missing (roles are cluster-wide); the row-level
-- security policies call share.current_district() as the reader.
do $$
declare
    role_name text;
begin
    foreach role_name in array array[{codes}]::text[] loop
        role_name := 'district_' || role_name;
        if not exists (select from pg_roles where rolname = role_name) then
            execute format('create role %I nologin', role_name);
        end if;
        execute format('grant usage on schema share to %I', role_name);
        execute format('grant execute on function share.current_district() to %I', role_name);
    end loop;
end
$$;
