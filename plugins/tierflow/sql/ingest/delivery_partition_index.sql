-- The partition's key index, built once and sorted after its COPY; attaching adopts it.
create index on {partition} ({key})
