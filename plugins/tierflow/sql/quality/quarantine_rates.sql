-- Daily quarantine rates per dataset, for the quality report.
with rates as (
    select department, dataset, day, rows_in, rows_quarantined, rate
    from quality.quarantine_rate
    where day between :s and :e
),

final as (
    select * from rates order by day, dataset
)

select * from final
