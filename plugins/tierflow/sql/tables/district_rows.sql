-- A generated table with a division code: the feeds' index on its history, and the pull
-- views' wall (as migrations 0003 and 0007 give the tables of design §9).
create index {history_feed} on {schema}.{history} ((left(division_code, 6)), valid_from);
grant select on {schema}.{table} to tierflow_share;
alter table {schema}.{table} enable row level security;
create policy district_rows on {schema}.{table} for select to tierflow_share
    using (left(division_code, 6) = share.current_district());
