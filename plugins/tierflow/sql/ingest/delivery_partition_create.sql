-- A bare table for one delivery's rows, attached to the pool once they are all in. The check
-- constraint equals the partition bound, so attaching does not scan the rows again.
create table {partition} (
    like {pool} including defaults,
    check (_delivery_id >= {low} and _delivery_id < {high})
)
