-- The run's one state of the database, for every statement of the run to read.
select pg_export_snapshot()
