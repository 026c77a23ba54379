-- Every touched key recomputed: the change-hash check did not pay (merge.run._hash_check_pays).
with touched as (
    select * from {touched}
),

final as (
    select * from touched
)

select * from final
