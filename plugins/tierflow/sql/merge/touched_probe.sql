-- A sample of the touched keys (the first {keys} the work table holds: touched_keys.sql hashes
-- them, so in no key order) on which the merge measures whether the change-hash check pays.
with probe as (
    select * from {touched} limit {keys}
),

final as (
    select * from probe
)

select * from final
