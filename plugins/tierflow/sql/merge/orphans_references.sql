-- The references of one relation held by the golden records of the touched keys, with the
-- delivery each came from: the merge's work table orphans_flag.sql checks against the target
-- library. On Citus it is distributed like the target (by the referenced key, so the check is
-- a join on one shard); filling it moves these three narrow columns between the workers once,
-- never through the coordinator.
with referencing as (
    select
        {record_key_text} as key,
        lib.{column} as {target_key},
        case when jsonb_typeof(lib.provenance -> :column_name) = 'number'
            then cast(lib.provenance ->> :column_name as bigint) end as delivery_id
    from {library_table} as lib
    inner join {touched} as touched on {touched_join}
    where lib.{column} is not null{when_filter}
),

final as (
    select * from referencing
)

select * from final
