-- Golden records of keys the library does not hold yet: what the merge will insert.
with final as (
    select count(*) as new_records from {golden} where not _exists
)

select * from final
