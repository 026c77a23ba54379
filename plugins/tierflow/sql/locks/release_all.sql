with keys as (
    select distinct hashtext(n) as k
    from unnest(cast(:names as text[])) as n
),

final as (
    select pg_advisory_unlock(k) as released
    from keys
)

select * from final
