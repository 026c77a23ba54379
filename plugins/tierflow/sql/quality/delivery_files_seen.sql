-- Of the given landing files of a dataset, those an earlier run has loaded or rejected.
with seen as (
    select file_path
    from quality.delivery
    where dataset = :dataset and status in ('loaded', 'rejected') and file_path = any(:files)
),

final as (
    select file_path from seen
)

select * from final
