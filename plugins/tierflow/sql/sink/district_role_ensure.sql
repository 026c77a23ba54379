-- A district's read-only role, created when missing (roles are cluster-wide); the row-level
-- security policies call share.current_district() as the reader.
do $$
begin
    if not exists (select from pg_roles where rolname = '{name}') then
        create role {role} nologin;
    end if;
end
$$;
grant usage on schema share to {role};
grant execute on function share.current_district() to {role};
