-- Every key a district received of one feed, as it received it (clear, masked or under its
-- pseudonym key in pg_temp.pseudonym_key): the keys of the versions in its scope that
-- were current at some point between its first and last window ends.
with received as (
    select distinct {key_columns}
    from {source} as h
    where {scope}
      and h.{version_time} <= :sent_to
      and {still_current}
),

final as (
    select {key_values}
    from received as h
)

select * from final
