-- A library feed's statement over its two tables of versions: the closed versions in its
-- history, then the current ones, its rows (valid from their changed_at). Each leg is the
-- same statement over one table (the history's, then the library's), so each is a join of
-- one table (on Citus, one colocated distributed table) with the window table, as before
-- the histories held closed versions only; {union} is "union all" for rows, "union" for keys.
select * from ({closed}) as closed_versions
{union}
select * from ({current}) as current_versions
