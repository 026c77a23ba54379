-- excluded.published_at is the column's default, now(), taken when the row is built: Citus
-- refuses a function that is not immutable in the DO UPDATE SET of a distributed insert.
insert into thematic.report_run (run_id, as_of, path, rows, sha256)
values (:r, :a, :p, :n, :s)
on conflict (run_id) do update
set
    as_of = excluded.as_of,
    path = excluded.path,
    rows = excluded.rows,
    sha256 = excluded.sha256,
    published_at = excluded.published_at
