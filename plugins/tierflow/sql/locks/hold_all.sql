-- One order whoever asks (sorted hashes, taken in that order), so two holders of overlapping
-- sets never deadlock, even when two names share a hash.
with sorted_keys as (
    select distinct hashtext(n) as k
    from unnest(cast(:names as text[])) as n
    order by k
),

final as (
    select pg_advisory_lock(k) as taken
    from sorted_keys
)

select * from final
