-- The delivery's rows become part of the pool (its indexes adopted, its check proving the bound).
alter table {pool} attach partition {partition} for values from ({low}) to ({high})
