-- Quarantined rows of one delivery, exactly as delivered (every column as text) plus reasons.
with staged as (
    select * from {stage}
),

final as (
    select
        :delivery_id as delivery_id,
        _row_number as row_number,
        string_to_array(_reasons, '; ') as reasons,
        to_jsonb(staged) - '_row_number' - '_reasons' as raw
    from staged
)

insert into quality.quarantine (delivery_id, row_number, reasons, raw)
select * from final
