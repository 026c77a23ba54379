-- Quarantined rows of one delivery as delivered, every column as text, until recorded.
create temp table {stage} (
    _row_number bigint not null,
    _reasons text not null,
    {columns}
) on commit drop
