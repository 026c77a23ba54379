-- Warehouse layout of design §9. Pool tables are derived from the contracts (see tierflow.pool).
create schema if not exists ref;
create schema if not exists pool;
create schema if not exists library;
create schema if not exists quality;
create schema if not exists feed;
create schema if not exists thematic;

-- Division reference: districts/counties/zones from schemas/divisions.yaml, township and
-- village tiers from the official statistical table when it is loaded.
create table ref.division (
    code            text primary key,
    name            text not null,
    tier            text not null check (tier in ('city', 'district', 'county', 'zone', 'township', 'village')),
    parent_code     text,
    is_pilot        boolean not null default false,
    functional_zone boolean not null default false,
    source          text not null
);

-- One row per file delivered into a resource pool.
create table quality.delivery (
    delivery_id      bigint generated always as identity primary key,
    dataset          text not null,
    department       text not null,
    file_path        text not null,
    file_sha256      text not null,
    file_bytes       bigint not null,
    file_format      text not null,
    encoding         text,
    delivery_date    date,
    status           text not null check (status in ('loading', 'loaded', 'rejected')),
    rows_in          bigint not null default 0,
    rows_accepted    bigint not null default 0,
    rows_quarantined bigint not null default 0,
    rows_superseded  bigint not null default 0,
    rows_warned      bigint not null default 0,
    rows_normalised  bigint not null default 0,
    extra_columns    jsonb not null default '[]',
    suite_success    boolean,
    gx_scope         text,
    error            text,
    quarantine_path  text,
    started_at       timestamptz not null default now(),
    finished_at      timestamptz,
    constraint rows_balance check (status <> 'loaded' or rows_in = rows_accepted + rows_quarantined)
);
-- The same content delivered twice for a dataset is loaded once.
create unique index delivery_once on quality.delivery (dataset, file_sha256) where status = 'loaded';
create index delivery_by_dataset on quality.delivery (dataset, started_at);

-- Per delivery, per expectation: the quality history departments are audited on.
create table quality.expectation_result (
    delivery_id      bigint not null references quality.delivery on delete cascade,
    rule_id          text not null,
    expectation_type text not null,
    column_name      text,
    severity         text not null check (severity in ('block', 'warn')),
    evaluated        bigint not null,
    failed           bigint not null,
    pass_rate        double precision not null,
    primary key (delivery_id, rule_id)
);

-- Every quarantined row, exactly as delivered, with the reasons.
create table quality.quarantine (
    delivery_id bigint not null references quality.delivery on delete cascade,
    row_number  bigint not null,
    reasons     text[] not null check (cardinality(reasons) > 0),
    raw         jsonb not null,
    primary key (delivery_id, row_number)
);

-- Rows that lost to a later version of the same key within a delivery (not errors).
create table quality.superseded (
    delivery_id bigint not null references quality.delivery on delete cascade,
    row_number  bigint not null,
    key         text not null,
    primary key (delivery_id, row_number)
);

-- Field-level disagreements between sources, and cross-library orphans (merge).
create table quality.conflict (
    conflict_id   bigint generated always as identity primary key,
    library       text not null,
    key           text not null,
    field         text not null,
    kept_value    text,
    kept_source   text not null,
    other_value   text,
    other_source  text not null,
    detected_at   timestamptz not null default now()
);
create table quality.orphan (
    library      text not null,
    key          text not null,
    relation     text not null,
    missing_key  text not null,
    delivery_id  bigint,
    detected_at  timestamptz not null default now(),
    primary key (library, key, relation)
);

-- Foundational libraries: one golden record per key, with field-level provenance
-- ({"field": {"dataset":…, "delivery_id":…, "updated_at":…}}) and a hash of the golden fields.
create table library.person (
    id_number        text primary key,
    name             text,
    gender           text,
    birth_date       date,
    ethnicity        text,
    division_code    text,
    address          text,
    status           text,
    death_date       date,
    phone            text,
    employer_uscc    text,
    insurance_status text,
    provenance       jsonb not null default '{}',
    row_hash         text not null,
    created_at       timestamptz not null default now(),
    changed_at       timestamptz not null default now()
);
create table library.legal_entity (
    uscc                  text primary key,
    name                  text,
    entity_kind           text,
    entity_type           text,
    legal_rep_name        text,
    legal_rep_id_number   text,
    registered_capital    numeric,
    established_on        date,
    status                text,
    division_code         text,
    registration_district text,
    address               text,
    industry_code         text,
    tax_status            text,
    credit_grade          text,
    provenance            jsonb not null default '{}',
    row_hash              text not null,
    created_at            timestamptz not null default now(),
    changed_at            timestamptz not null default now()
);
create table library.land_parcel (
    parcel_id      text primary key,
    land_use_code  text,
    area_m2        numeric,
    geometry_wkt   text,
    division_code  text,
    provenance     jsonb not null default '{}',
    row_hash       text not null,
    created_at     timestamptz not null default now(),
    changed_at     timestamptz not null default now()
);
create table library.address (
    address_id     text primary key,
    full_address   text,
    division_code  text,
    longitude      double precision,
    latitude       double precision,
    provenance     jsonb not null default '{}',
    row_hash       text not null,
    created_at     timestamptz not null default now(),
    changed_at     timestamptz not null default now()
);
create table library.e_license (
    license_type_code text not null,
    license_number    text not null,
    holder_kind       text,
    holder_id         text,
    issuing_authority text,
    issued_on         date,
    effective_from    date,   -- the licence's valid_from (the name is taken by history versions)
    effective_until   date,   -- the licence's valid_until; null = no expiry
    status            text,
    division_code     text,
    provenance        jsonb not null default '{}',
    row_hash          text not null,
    created_at        timestamptz not null default now(),
    changed_at        timestamptz not null default now(),
    primary key (license_type_code, license_number)
);

-- Type-2 history: one row per version of a golden record.
create table library.person_history       (like library.person excluding constraints);
create table library.legal_entity_history (like library.legal_entity excluding constraints);
create table library.land_parcel_history  (like library.land_parcel excluding constraints);
create table library.address_history      (like library.address excluding constraints);
create table library.e_license_history    (like library.e_license excluding constraints);
alter table library.person_history       add column valid_from timestamptz not null, add column valid_to timestamptz;
alter table library.legal_entity_history add column valid_from timestamptz not null, add column valid_to timestamptz;
alter table library.land_parcel_history  add column valid_from timestamptz not null, add column valid_to timestamptz;
alter table library.address_history      add column valid_from timestamptz not null, add column valid_to timestamptz;
alter table library.e_license_history    add column valid_from timestamptz not null, add column valid_to timestamptz;
create index on library.person_history (id_number, valid_from);
create index on library.legal_entity_history (uscc, valid_from);
create index on library.land_parcel_history (parcel_id, valid_from);
create index on library.address_history (address_id, valid_from);
create index on library.e_license_history (license_type_code, license_number, valid_from);

-- District feeds: what was published, and what each consumer acknowledged.
create table feed.run (
    run_id          text not null,
    consumer_id     text not null,
    feed_name       text not null,
    watermark_from  timestamptz,
    watermark_to    timestamptz not null,
    row_count       bigint not null,
    path            text not null,
    published_at    timestamptz not null default now(),
    primary key (consumer_id, feed_name, run_id)
);
create table feed.watermark (
    consumer_id     text not null,
    feed_name       text not null,
    acked_run_id    text not null,
    acked_watermark timestamptz not null,
    acked_at        timestamptz not null default now(),
    primary key (consumer_id, feed_name)
);

-- Thematic databases and tier aggregates.
create table thematic.tier_aggregate (
    run_id        text not null,
    subject       text not null,
    tier          text not null,
    division_code text not null,
    parent_code   text,
    dimension     text not null default '',
    measure       text not null,
    value         double precision not null,
    primary key (run_id, subject, tier, division_code, dimension, measure)
);
