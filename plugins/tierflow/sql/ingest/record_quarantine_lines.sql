-- Lines that could not be split into the header's fields, kept whole under the key _line.
with staged as (
    select * from {stage}
),

final as (
    select
        :delivery_id as delivery_id,
        _row_number as row_number,
        string_to_array(_reasons, '; ') as reasons,
        jsonb_build_object('_line', _line) as raw
    from staged
)

insert into quality.quarantine (delivery_id, row_number, reasons, raw)
select * from final
