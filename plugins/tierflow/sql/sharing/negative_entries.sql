select * from sharing.negative_entry
