-- Second database on the stack's PostgreSQL: the tierflow warehouse (Airflow's metadata is "airflow").
create user tierflow with password 'tierflow';
create database tierflow owner tierflow;
-- Third: Marquez's lineage store (docker-compose.yaml, service marquez).
create user marquez with password 'marquez';
create database marquez owner marquez;
