insert into sharing.negative_entry (dataset, field, legal_basis, added_by, added_at)
values (:dataset, :field, :legal_basis, :added_by, cast(:added_at as timestamptz))
