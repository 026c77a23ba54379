-- New service-case deliveries into thematic.service_case with type-2 history, like the
-- library merges: the latest row per case wins, an unchanged case is not touched.
with delivered as (
    select distinct on (s."case_id")
        s."case_id", s."item_code", s."applicant_kind", s."applicant_id", s."department_code",
        s."division_code", s."accepted_at", s."completed_at", s."status", s."rating",
        s."_delivery_id" as delivery_id
    from pool."gov_service_case" as s
    where s."_delivery_id" > :low and s."_delivery_id" <= :high
    order by s."case_id", s."_delivery_id" desc, s."_row_number" desc
),

hashed as (
    select d.*,
        md5(concat_ws('|', d."item_code", d."applicant_kind", d."applicant_id", d."department_code",
            d."division_code", d."accepted_at"::text, d."completed_at"::text, d."status",
            d."rating"::text)) as row_hash
    from delivered as d
),

upserted as (
    insert into thematic.service_case as t ("case_id", "item_code", "applicant_kind",
        "applicant_id", "department_code", "division_code", "accepted_at", "completed_at",
        "status", "rating", delivery_id, row_hash, created_at, changed_at)
    select "case_id", "item_code", "applicant_kind", "applicant_id", "department_code",
        "division_code", "accepted_at", "completed_at", "status", "rating", delivery_id,
        row_hash, now(), now()
    from hashed
    on conflict ("case_id") do update
        set "item_code" = excluded."item_code", "applicant_kind" = excluded."applicant_kind",
            "applicant_id" = excluded."applicant_id", "department_code" = excluded."department_code",
            "division_code" = excluded."division_code", "accepted_at" = excluded."accepted_at",
            "completed_at" = excluded."completed_at", "status" = excluded."status",
            "rating" = excluded."rating", delivery_id = excluded.delivery_id,
            row_hash = excluded.row_hash, changed_at = excluded.changed_at
        where t.row_hash is distinct from excluded.row_hash
    returning t.*, (t.xmax = 0) as inserted
),

closed as (
    update thematic.service_case_history as h
    set valid_to = now()
    from upserted as u
    where h."case_id" = u."case_id" and h.valid_to is null
    returning 1
),

opened as (
    insert into thematic.service_case_history ("case_id", "item_code", "applicant_kind",
        "applicant_id", "department_code", "division_code", "accepted_at", "completed_at",
        "status", "rating", delivery_id, row_hash, created_at, changed_at, valid_from, valid_to)
    select "case_id", "item_code", "applicant_kind", "applicant_id", "department_code",
        "division_code", "accepted_at", "completed_at", "status", "rating", delivery_id,
        row_hash, created_at, changed_at, now(), null
    from upserted
    returning 1
),

final as (
    select
        (select count(*) from upserted where inserted) as inserted,
        (select count(*) from upserted where not inserted) as updated,
        (select count(*) from opened) as history_opened,
        (select count(*) from closed) as history_closed
)

select * from final
