-- The district roles (codes: {codes}) and tierflow_share: this database's grants revoked,
-- each role dropped unless another database of the cluster still grants it something.
do $$
declare
    role_name text;
begin
    foreach role_name in array array(
        select 'district_' || code from unnest(array[{codes}]::text[]) as code
    ) || array['tierflow_share'] loop
        if exists (select from pg_roles where rolname = role_name) then
            execute format('drop owned by %I', role_name);
            begin
                execute format('drop role %I', role_name);
            exception when dependent_objects_still_exist then
                null;  -- still granted something in another database: keep it there
            end;
        end if;
    end loop;
end
$$;
