-- One district's pull view of one feed, generated from its compiled sharing policy
-- (tierflow.sharing.policy): exactly the feed's columns, transformed as in its feed files
-- (pseudonyms under the district's own key, read from share_secret.consumer_key, which
-- the district cannot read), and only the district's current records. The district filter
-- is explicit; row-level security on the table behind it is a second wall.
create view {view} with (security_barrier) as
with district_rows as (
    select t.*
    from {source} as t
    where {scope}
),

final as (
    select
        {columns},
        t.{changed_at} as changed_at
    from district_rows as t
    {key_join}
)

select * from final
