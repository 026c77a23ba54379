-- Within one delivery the latest row of a repeated key wins ({order_by}); the others are
-- recorded as superseded and removed from the delivery's partition (not attached yet, its key
-- index built): the repeated keys come from an index-only scan, and only their rows are
-- ranked. Placeholders are quoted identifiers; values are bound.
with repeated as (
    select {plain_keys}
    from {partition}
    group by {plain_keys}
    having count(*) > 1
),

ranked as (
    select
        {key_columns},
        pool._row_number,
        concat_ws('|', {key_columns}) as key,
        row_number() over (partition by {key_columns} order by {order_by}) as version_rank
    from {partition} as pool
    join repeated on {key_join}
),

losers as (
    select * from ranked where version_rank > 1
),

recorded as (
    insert into quality.superseded (delivery_id, row_number, key)
    select :delivery_id, _row_number, key
    from losers
    returning 1
),

removed as (
    -- by key and row number, not ctid: Citus cannot delete by ctid on a distributed table;
    -- the key index finds the rows on both kinds of server (same join as above, on the losers)
    delete from {partition} as pool
    using losers as repeated
    where {key_join} and pool._row_number = repeated._row_number
    returning 1
),

final as (
    select
        (select count(*) from recorded) as rows_superseded,
        (select count(*) from removed) as rows_removed
)

select * from final
