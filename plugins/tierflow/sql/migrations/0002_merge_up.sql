-- Merge of the pools into the foundational libraries (tierflow.merge).

-- Per library and dataset, the last delivery merged: the next merge takes the later ones.
create table library.merge_watermark (
    library          text not null,
    dataset          text not null,
    last_delivery_id bigint not null,
    merged_at        timestamptz not null default now(),
    primary key (library, dataset)
);

-- A disagreement is logged once per key, field, sources and pair of values, however often
-- merges see it again (values can be long, e.g. geometries: compare their digests).
create unique index conflict_once on quality.conflict (
    library, key, field, kept_source, other_source,
    md5(coalesce(kept_value, '')), md5(coalesce(other_value, ''))
);

-- Death and birth events are looked up by the person they concern, not by event id.
create index if not exists nhc_vital_event_person on pool.nhc_vital_event (id_number, updated_at);

-- Orphan flags are cleared by the key they miss once that record arrives.
create index orphan_by_missing_key on quality.orphan (library, relation, missing_key);
