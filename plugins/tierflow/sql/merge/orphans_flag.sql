-- Flag golden records of the touched keys whose reference names no record of the target
-- library (kept, not dropped), with the delivery the reference came from.
with referencing as (
    select
        {record_key_text} as key,
        lib.{column} as missing_key,
        case when jsonb_typeof(lib.provenance -> :column_name) = 'number'
            then cast(lib.provenance ->> :column_name as bigint) end as delivery_id
    from {library_table} as lib
    join {touched} as touched on {touched_join}
    where lib.{column} is not null{when_filter}
      and not exists (select 1 from {target_table} as target where target.{target_key} = lib.{column})
),

flagged as (
    insert into quality.orphan (library, key, relation, missing_key, delivery_id)
    select :library, key, :relation, missing_key, delivery_id
    from referencing
    on conflict (library, key, relation) do update
        set missing_key = excluded.missing_key, delivery_id = excluded.delivery_id
    returning delivery_id
),

final as (
    select delivery_id, count(*) as orphans
    from flagged
    group by delivery_id
)

select * from final
