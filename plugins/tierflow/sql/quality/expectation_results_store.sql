-- One delivery's result per expectation (one execution per rule, bound by executemany).
with result as (
    select
        cast(:delivery_id as bigint) as delivery_id,
        cast(:rule_id as text) as rule_id,
        cast(:expectation_type as text) as expectation_type,
        cast(:column_name as text) as column_name,
        cast(:severity as text) as severity,
        cast(:evaluated as bigint) as evaluated,
        cast(:failed as bigint) as failed,
        cast(:pass_rate as double precision) as pass_rate
),

final as (
    select * from result
)

insert into quality.expectation_result (
    delivery_id, rule_id, expectation_type, column_name, severity, evaluated, failed, pass_rate
)
select * from final
