select pg_advisory_lock(hashtext(:k))
