select * from sharing.consumer
