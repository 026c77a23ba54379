-- The loaded delivery of the same content for the dataset, if any: a re-delivery is not reloaded.
with loaded as (
    select *
    from quality.delivery
    where dataset = :dataset and file_sha256 = :sha and status = 'loaded'
),

final as (
    select * from loaded
)

select * from final
