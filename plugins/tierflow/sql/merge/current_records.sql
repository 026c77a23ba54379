-- The current library records of the touched keys, when they are a small share of the library:
-- the merge runs this with hash and merge joins off, so each key is looked up in the library's
-- key index (a nested loop over the touched keys) instead of hashing the whole library to find
-- them — PostgreSQL 15 builds a parallel hash join's table from its inner side, and in the golden
-- statement that side is the library. golden.sql then joins this work table in its place.
with current_records as (
    select current_record.*
    from {touched} as touched
    inner join {library_table} as current_record on {current_join}
),

final as (
    select * from current_records
)

select * from final
