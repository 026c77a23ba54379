-- The first rows of one delivery in row order, as text, for its GX report: the accepted rows
-- from the pool (in the forms ingest parses), the quarantined rows exactly as delivered
-- (broken lines, which have no fields, left out). Bounded: never more than {rows} rows.
with accepted as (
    select _row_number as row_number, {accepted_columns}
    from {pool}
    where _delivery_id = {delivery_id}
    order by _row_number
    limit {rows}
),

quarantined as (
    select row_number, {quarantined_columns}
    from quality.quarantine
    where delivery_id = {delivery_id} and not raw ? '_line'
    order by row_number
    limit {rows}
),

final as (
    select * from accepted
    union all
    select * from quarantined
)

select * from final
order by row_number
limit {rows}
