-- One delivered file enters the ledger: 'loading' while its load runs (finished by
-- delivery_loaded.sql in the same transaction), or 'rejected' at once with the one-line error.
with opened as (
    insert into quality.delivery (
        dataset, department, file_path, file_sha256, file_bytes, file_format, encoding,
        delivery_date, status, error, finished_at
    )
    values (
        :dataset, :department, :path, :sha, :size, :fmt, :enc, :date, :status, :error,
        case when :status = 'loading' then null else now() end
    )
    returning delivery_id
),

final as (
    select delivery_id from opened
)

select * from final
