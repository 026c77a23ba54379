-- Second database on the stack's PostgreSQL: the tierflow warehouse (Airflow's metadata is "airflow").
create user tierflow with password 'tierflow';
create database tierflow owner tierflow;
