-- Per dataset and expectation, over the latest deliveries: how many rows were checked and failed.
with deliveries as (
    select delivery_id, dataset
    from quality.delivery
    where status = 'loaded'
      and (cast(:dataset as text) is null or dataset = cast(:dataset as text))
    order by started_at desc, delivery_id desc
    limit :limit
),

results as (
    select d.dataset, r.rule_id, r.severity, r.evaluated, r.failed
    from quality.expectation_result as r
    join deliveries as d using (delivery_id)
),

final as (
    select
        dataset,
        rule_id,
        severity,
        sum(evaluated)::bigint as evaluated,
        sum(failed)::bigint as failed,
        case when sum(evaluated) > 0 then 1 - sum(failed)::float / sum(evaluated) else 1 end as pass_rate
    from results
    group by dataset, rule_id, severity
    having sum(failed) > 0
    order by dataset, failed desc
)

select * from final
