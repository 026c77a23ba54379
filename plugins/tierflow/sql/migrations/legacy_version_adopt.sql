-- tierflow's revision recorded in Airflow's (shared) public.alembic_version moves to
-- tierflow's own version table; Airflow's table is dropped only when nothing else is left in it.
create table public.tierflow_alembic_version (
    version_num varchar(32) not null,
    constraint tierflow_alembic_version_pkc primary key (version_num)
);
insert into public.tierflow_alembic_version (version_num) values (:v);
delete from public.alembic_version where version_num = any(:vs);
