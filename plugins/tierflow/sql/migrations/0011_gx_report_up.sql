-- The GX report of a delivery, recorded in the delivery ledger (quality.ledger owns it).
-- the check named: Citus refuses an unnamed constraint added with a column to a distributed or
-- reference table ("constraints must have explicit names")
alter table quality.delivery add column gx_status text;
alter table quality.delivery add constraint delivery_gx_status_known
    check (gx_status in ('pending', 'done'));
alter table quality.delivery add column gx_success boolean;
alter table quality.delivery add column gx_validated_at timestamptz;

-- Validated inside the load before this revision: done, at the load's end.
update quality.delivery
set gx_status = 'done', gx_validated_at = finished_at
where gx_scope is not null;

create index delivery_gx_pending on quality.delivery (delivery_id) where gx_status = 'pending';
