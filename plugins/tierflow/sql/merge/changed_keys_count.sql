-- How many keys of the probe the change-hash check would keep (changed_keys.sql over it).
with changed as (
    {changed_keys}
),

final as (
    select count(*) as changed from changed
)

select * from final
