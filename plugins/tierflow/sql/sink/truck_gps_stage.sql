-- Geofenced points of one load, COPYed in before they go to their day partitions.
create temp table {stage} (plate_number text, recorded_us bigint, longitude double precision,
    latitude double precision, speed_kmh double precision, heading bigint,
    delivery_id bigint, district_code text) on commit drop
