-- Flag golden records of the touched keys whose reference names no record of the target
-- library (kept, not dropped), with the delivery the reference came from; the references are
-- those orphans_references.sql collected.
with missing as (
    select refs.key, refs.{target_key} as missing_key, refs.delivery_id
    from {references} as refs
    where not exists (
        select 1 from {target_table} as target where target.{target_key} = refs.{target_key}
    )
),

flagged as (
    insert into quality.orphan (library, key, relation, missing_key, delivery_id)
    select :library, key, :relation, missing_key, delivery_id
    from missing
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
