-- One district or many: the planner sees how many, and picks an index or one scan.
analyze pg_temp.sink_window
