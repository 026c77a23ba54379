-- Golden keys touched by the new deliveries of any source of one library table.
-- new_source_keys unions one touched_keys_source.sql per source (key columns renamed to the
-- golden key, the source's row filter applied, delivery bounds bound).
with new_source_keys as (
    {new_source_keys}
),

final as (
    select distinct * from new_source_keys
)

select * from final
