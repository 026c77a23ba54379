-- Fragment of golden.sql: the winning non-empty candidate of one multi-source field.
left join lateral (select c.value, c.dataset, c.delivery_id, c.updated_at from (values {candidate_rows}) as c (value, dataset, delivery_id, updated_at, rank) where btrim(c.value) <> '' order by {order} limit 1) as {winner} on true
