-- The pool's one index: its key.
create index if not exists {index} on {pool} ({key})
