-- Several districts' first feeds: one scan of their rows hashed against the window table;
-- a loop of index scans (one per district) costs more per row.
set local enable_nestloop = off;
set local enable_mergejoin = off;
