select * from sharing.demand
