-- Pull interface (design §6, issue 5): row-level security on the tables behind share.*.
-- Roles are cluster-wide, so they are created only when missing.
do $$
begin
    if not exists (select from pg_roles where rolname = 'tierflow_share') then
        create role tierflow_share nologin;
    end if;
end
$$;

grant usage on schema library, thematic, share to tierflow_share;
grant select on library.person, library.legal_entity, library.e_license, library.address,
    thematic.service_case, thematic.truck_gps to tierflow_share;

alter table library.person       enable row level security;
alter table library.legal_entity enable row level security;
alter table library.e_license    enable row level security;
alter table library.address      enable row level security;
alter table thematic.service_case enable row level security;
alter table thematic.truck_gps    enable row level security;
create policy district_rows on library.person       for select to tierflow_share using (left(division_code, 6) = share.current_district());
create policy district_rows on library.legal_entity for select to tierflow_share using (left(division_code, 6) = share.current_district());
create policy district_rows on library.e_license    for select to tierflow_share using (left(division_code, 6) = share.current_district());
create policy district_rows on library.address      for select to tierflow_share using (left(division_code, 6) = share.current_district());
create policy district_rows on thematic.service_case for select to tierflow_share using (left(division_code, 6) = share.current_district());
create policy district_rows on thematic.truck_gps    for select to tierflow_share using (district_code = share.current_district());

-- The views themselves are generated from the compiled sharing policy, per district
-- (tierflow.sharing.views; migration 0007 removed the hand-written ones).
