-- The latest change a source holds: the end of a new feed window.
with versions as (
    select max({version_time}) as latest
    from {source} as v
),

final as (
    select latest from versions
)

select * from final
