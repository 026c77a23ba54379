-- Whether a table exists (its regclass, or null).
with relation as (
    select to_regclass(:t) as regclass
),

final as (
    select regclass from relation
)

select * from final
