select * from sharing.negative_removal
