-- Sink to pilot districts and aggregation up the tiers (tierflow.sink, tierflow.aggregate).

-- District boundary polygons of the geospatial library (WKT, EPSG:4326), with their
-- bounding boxes so a point can be pre-filtered without parsing the polygon.
create table library.district_boundary (
    division_code text primary key,
    name          text not null,
    geometry_wkt  text not null,
    min_lon       double precision not null,
    max_lon       double precision not null,
    min_lat       double precision not null,
    max_lat       double precision not null,
    source        text not null,
    changed_at    timestamptz not null default now()
);

-- Feeds select a district's versions opened in a watermark window: by district, then time.
create index person_history_feed       on library.person_history ((left(division_code, 6)), valid_from);
create index legal_entity_history_feed on library.legal_entity_history ((left(division_code, 6)), valid_from);
create index land_parcel_history_feed  on library.land_parcel_history ((left(division_code, 6)), valid_from);
create index address_history_feed      on library.address_history ((left(division_code, 6)), valid_from);
create index e_license_history_feed    on library.e_license_history ((left(division_code, 6)), valid_from);
-- ... and every version opened in a window, to find records that moved out of a district.
create index person_history_opened       on library.person_history (valid_from);
create index legal_entity_history_opened on library.legal_entity_history (valid_from);
create index land_parcel_history_opened  on library.land_parcel_history (valid_from);
create index address_history_opened      on library.address_history (valid_from);
create index e_license_history_opened    on library.e_license_history (valid_from);

-- Thematic: service cases (current + type-2 history, like the libraries).
create table thematic.service_case (
    case_id          text primary key,
    item_code        text,
    applicant_kind   text,
    applicant_id     text,
    department_code  text,
    division_code    text,
    accepted_at      timestamptz,
    completed_at     timestamptz,
    status           text,
    rating           bigint,
    delivery_id      bigint not null,
    row_hash         text not null,
    created_at       timestamptz not null default now(),
    changed_at       timestamptz not null default now()
);
create table thematic.service_case_history (like thematic.service_case excluding constraints);
alter table thematic.service_case_history add column valid_from timestamptz not null, add column valid_to timestamptz;
create index service_case_history_key    on thematic.service_case_history (case_id, valid_from);
create index service_case_history_feed   on thematic.service_case_history ((left(division_code, 6)), valid_from);
create index service_case_history_opened on thematic.service_case_history (valid_from);

-- Thematic: heavy-truck GPS points, one partition per day; district_code is the geofence
-- result against library.district_boundary ('' outside every district).
create table thematic.truck_gps (
    plate_number  text not null,
    recorded_at   timestamptz not null,
    longitude     double precision not null,
    latitude      double precision not null,
    speed_kmh     double precision,
    heading       bigint,
    district_code text not null,
    delivery_id   bigint not null,
    loaded_at     timestamptz not null default now(),
    primary key (plate_number, recorded_at)
) partition by range (recorded_at);
create table thematic.truck_gps_default partition of thematic.truck_gps default;
create index truck_gps_feed on thematic.truck_gps (district_code, loaded_at);
create index truck_gps_loaded on thematic.truck_gps (loaded_at);

-- Which pool deliveries the thematic loads have taken.
create table thematic.load_watermark (
    dataset          text primary key,
    last_delivery_id bigint not null,
    loaded_at        timestamptz not null default now()
);

-- One row per upward report published for the national platform.
create table thematic.report_run (
    run_id       text primary key,
    as_of        date not null,
    path         text not null,
    rows         bigint not null,
    sha256       text not null,
    published_at timestamptz not null default now()
);

-- Consumers of the demand list (clearance drives masking in the pull views).
create table feed.consumer (
    consumer_id   text primary key,
    kind          text not null,
    division_code text,
    clearance     int not null check (clearance between 1 and 4)
);
-- A run is planned (window fixed) before its files are written, so a re-run of the same
-- run id selects exactly the same versions and writes the same bytes.
-- (the check comes apart from its column: Citus adds no column with a constraint; the name
-- is the one PostgreSQL gives an inline check)
alter table feed.run
    add column status text not null default 'published',
    add column as_of date;
alter table feed.run add constraint run_status_check check (status in ('writing', 'published'));

-- Responsibility audit: one row per due delivery, and quarantine rates per day.
create table quality.delivery_audit (
    dataset       text not null,
    department    text not null,
    frequency     text not null,
    due_at        timestamptz not null,
    period_start  date not null,
    period_end    date not null,
    status        text not null check (status in ('on_time', 'late', 'missing')),
    delivery_id   bigint,
    delivered_at  timestamptz,
    late_seconds  bigint,
    audited_at    timestamptz not null default now(),
    primary key (dataset, due_at)
);
create table quality.quarantine_rate (
    department       text not null,
    dataset          text not null,
    day              date not null,
    deliveries       bigint not null,
    rows_in          bigint not null,
    rows_quarantined bigint not null,
    rate             double precision not null,
    primary key (dataset, day)
);
create table quality.audit_alert (
    alert_id  bigint generated always as identity primary key,
    raised_at timestamptz not null default now(),
    kind      text not null,
    detail    jsonb not null
);

-- Pull interface: schema share holds one view per subject; the views are owned by
-- tierflow_share (no other rights) so row-level security applies to every read through
-- them, and each policy compares the row's district with the reading role's district.
create schema share;
create function share.current_district() returns text
    language sql stable
    as $$ select substring(current_user from '^district_(\d{6})$') $$;
