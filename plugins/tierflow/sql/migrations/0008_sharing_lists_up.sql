-- The demand and negative lists managed online (tierflow.sharing.store): the current state
-- in plain tables, every change as one row of an append-only event trail. The state tables
-- are written only together with the event that explains them, in one transaction.
create schema sharing;

create table sharing.consumer (
    consumer_id   text primary key,
    name          text not null,
    kind          text not null check (kind in ('district', 'department')),
    division_code text,
    clearance     int not null check (clearance between 1 and 4)
);

create table sharing.demand (
    demand_id    text primary key,
    consumer_id  text not null references sharing.consumer,
    dataset      text not null,
    fields       text[] not null check (cardinality(fields) > 0),
    pseudonymise text[] not null default '{}',
    purpose      text not null,
    status       text not null
        check (status in ('pending', 'approved', 'rejected', 'revoked', 'expired')),
    approved_on  date,
    expires_on   date,  -- the last valid day
    valid_days   int check (valid_days > 0),
    requested_by text,
    requested_at timestamptz,
    decided_by   text,
    decided_at   timestamptz,
    reason       text,
    check (status not in ('approved', 'expired') or approved_on is not null)
);

create table sharing.negative_entry (
    dataset     text not null,
    field       text,  -- null: the whole dataset is never shared
    legal_basis text not null,
    added_by    text,
    added_at    timestamptz
);
create unique index negative_entry_key on sharing.negative_entry (dataset, coalesce(field, ''));

-- Lifting a negative-list entry takes two people: one asks, another approves.
create table sharing.negative_removal (
    request_id   int primary key,
    dataset      text not null,
    field        text,
    reason       text not null,
    requested_by text not null,
    requested_at timestamptz not null,
    status       text not null check (status in ('pending', 'approved')),
    approved_by  text check (approved_by is distinct from requested_by),
    approved_at  timestamptz
);

create table sharing.event (
    event_id bigserial primary key,
    at       timestamptz not null default clock_timestamp(),
    actor    text not null check (actor <> ''),
    kind     text not null,
    subject  text not null,
    reason   text,
    payload  jsonb not null
);

-- Append-only: no role may change or remove an event (the owner included).
create function sharing.event_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'sharing.event is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end
$$;
create trigger event_append_only before update or delete on sharing.event
    for each row execute function sharing.event_is_append_only();
create trigger event_no_truncate before truncate on sharing.event
    for each statement execute function sharing.event_is_append_only();
revoke update, delete, truncate on sharing.event from public;
