-- Pull views generated from the compiled sharing policy (tierflow.sharing.views), purge
-- notices in the feed ledger.

-- The hand-written views and clearance helpers of 0003 (a second copy of the sharing rules;
-- current_clearance() always answered 1 and clearance_of() told any district another's).
drop view if exists share.person, share.legal_entity, share.e_license, share.address,
    share.service_case, share.truck_gps;
drop function if exists share.clearance_of(text);
drop function if exists share.current_clearance();

-- Per-consumer pseudonym key pads for the views (written by COPY at each refresh): readable
-- by the views' owner only, never by a district role.
create schema share_secret;
revoke all on schema share_secret from public;
create table share_secret.consumer_key (
    consumer_id text primary key,
    inner_pad   bytea not null,
    outer_pad   bytea not null
);
revoke all on share_secret.consumer_key from public;
grant usage on schema share_secret to tierflow_share;
grant select on share_secret.consumer_key to tierflow_share;

-- Land parcels are a feed too: their views read library.land_parcel behind the same wall.
grant select on library.land_parcel to tierflow_share;
alter table library.land_parcel enable row level security;
create policy district_rows on library.land_parcel for select to tierflow_share
    using (left(division_code, 6) = share.current_district());

-- The feed ledger knows purge notices: which demands ended and why, the key columns as
-- the district received them, and when the run was planned (the deletes' changed_at).
alter table feed.run
    add column kind text not null default 'changes',
    add column demand_ids text[] not null default '{}',
    add column key_treatment jsonb,
    add column purge_reason text,
    add column planned_at timestamptz not null default now();
-- apart from its column, as in 0003 (Citus), under the name PostgreSQL gives an inline check
alter table feed.run add constraint run_kind_check check (kind in ('changes', 'purge'));

-- One delivery calendar (tierflow.quality): the audit also records rejected deliveries.
alter table quality.delivery_audit drop constraint if exists delivery_audit_status_check;
alter table quality.delivery_audit add constraint delivery_audit_status_check
    check (status in ('on_time', 'late', 'missing', 'rejected'));

-- An incremental feed with no change is not published: the ledger says so.
alter table feed.run drop constraint if exists run_status_check;
alter table feed.run add constraint run_status_check
    check (status in ('writing', 'published', 'empty'));
