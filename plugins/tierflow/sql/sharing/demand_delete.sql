delete from sharing.demand
where demand_id = any(:k)
