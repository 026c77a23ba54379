-- Back to nested provenance objects ({dataset, delivery_id}; the source updated_at the old
-- format also held is not recoverable from a delivery id).
do $$
declare
    provenance_table text;
    has_rows boolean;
begin
    for provenance_table in
        select table_name from information_schema.columns
        where table_schema = 'library' and column_name = 'provenance'
    loop
        -- Citus cannot plan the update below (a stable function as a table expression in a
        -- multi-shard query): a warehouse with nothing to rewrite must not need it.
        continue when not exists (
            select 1 from information_schema.tables
            where table_schema = 'library' and table_name = provenance_table
        );
        execute format(
            'select exists (select 1 from library.%I where provenance <> ''{}'')', provenance_table
        ) into has_rows;
        continue when not has_rows;
        execute format(
            $update$
            update library.%I set provenance = (
                select jsonb_object_agg(field, case
                    when jsonb_typeof(value) = 'object' and value ? 'delivery_id'
                        then jsonb_build_object('dataset', value -> 'dataset', 'delivery_id', value -> 'delivery_id')
                    else value end)
                from jsonb_each(library.provenance_detail(provenance)) as each_field (field, value)
            )
            where provenance <> '{}'
            $update$,
            provenance_table
        );
    end loop;
end
$$;

drop function library.provenance_detail(jsonb);
