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

-- The clearance lookup reads feed.consumer, which district roles cannot read themselves.
create function share.clearance_of(district text) returns int
    language sql stable security definer set search_path = pg_catalog, feed
    as $$ select coalesce((select max(clearance) from feed.consumer
                           where division_code = district and kind = 'district'), 1) $$;
revoke all on function share.clearance_of(text) from public;
grant execute on function share.clearance_of(text), share.current_district() to tierflow_share;

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

-- Views: never a negative-list field (person.ethnicity, person.phone); level-4 identifiers
-- partially masked; level-3 fields in clear only for a clearance of 3 or more.
create view share.person with (security_barrier) as
select
    left(id_number, 6) || '********' || right(id_number, 4) as id_number,
    case when share.clearance_of(share.current_district()) >= 3 then name
         else left(name, 1) || repeat('*', greatest(length(name) - 1, 0)) end as name,
    gender,
    case when share.clearance_of(share.current_district()) >= 3 then birth_date
         else date_trunc('year', birth_date)::date end as birth_date,
    division_code,
    case when share.clearance_of(share.current_district()) >= 3 then address
         else left(address, 6) || '****' end as address,
    status,
    changed_at
from library.person;

create view share.legal_entity with (security_barrier) as
select uscc, name, entity_type, legal_rep_name,
       left(legal_rep_id_number, 6) || '********' || right(legal_rep_id_number, 4) as legal_rep_id_number,
       established_on, status, division_code, address, industry_code, changed_at
from library.legal_entity;

create view share.e_license with (security_barrier) as
select license_type_code, license_number, holder_kind,
       left(holder_id, 6) || '********' || right(holder_id, 4) as holder_id,
       issuing_authority, issued_on, effective_from as valid_from, effective_until as valid_until,
       status, division_code, changed_at
from library.e_license;

create view share.address with (security_barrier) as
select address_id, full_address, division_code, longitude, latitude, changed_at
from library.address;

create view share.service_case with (security_barrier) as
select case_id, item_code, applicant_kind, department_code, division_code, accepted_at,
       completed_at, status, rating, changed_at
from thematic.service_case;

create view share.truck_gps with (security_barrier) as
select plate_number, recorded_at, longitude, latitude, speed_kmh, heading, district_code
from thematic.truck_gps;

alter view share.person       owner to tierflow_share;
alter view share.legal_entity owner to tierflow_share;
alter view share.e_license    owner to tierflow_share;
alter view share.address      owner to tierflow_share;
alter view share.service_case owner to tierflow_share;
alter view share.truck_gps    owner to tierflow_share;
