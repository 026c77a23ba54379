select pg_advisory_unlock(hashtext(:k))
