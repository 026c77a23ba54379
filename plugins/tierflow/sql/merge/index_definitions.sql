-- The indexes of one table, each with the statement that recreates it exactly: a primary key
-- or unique constraint as an ALTER TABLE (its index comes with it), any other index as its
-- CREATE INDEX. Used to set indexes aside during a bulk write and build them afterwards.
with indexes as (
    select
        cast(cast(ix.indexrelid as regclass) as text) as index_name,
        constraint_row.conname as constraint_name,
        case
            when constraint_row.oid is not null then
                'alter table ' || cast(cast(:table_name as regclass) as text)
                || ' add constraint ' || quote_ident(constraint_row.conname)
                || ' ' || pg_get_constraintdef(constraint_row.oid)
            else pg_get_indexdef(ix.indexrelid)
        end as create_statement
    from pg_index as ix
    left join pg_constraint as constraint_row
        on constraint_row.conindid = ix.indexrelid
        and constraint_row.conrelid = ix.indrelid
    where ix.indrelid = cast(:table_name as regclass)
),

final as (
    select * from indexes order by index_name
)

select * from final
