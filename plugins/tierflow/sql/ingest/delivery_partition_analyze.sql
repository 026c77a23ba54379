-- The partition's statistics now, before the search for repeated keys and the merge's joins.
analyze {partition}
