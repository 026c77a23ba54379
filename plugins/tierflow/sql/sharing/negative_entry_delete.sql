delete from sharing.negative_entry
where dataset = :dataset and field is not distinct from :field
