-- On Citus, a district's pull view reads through a security-definer function (after
-- pull_view.sql made the view of its rows, {rows_view}): Citus reads a view's distributed
-- tables on the workers as the reader, not as the view's owner (citusdata/citus#1683, #6161),
-- and a district role may use neither the tables nor the workers. The function runs as the
-- views' owner with its search path pinned; it takes no argument, so the district it serves
-- is the literal filter in {rows_view}, and only that district's role may execute it.
alter view {rows_view} owner to {owner};
revoke all on {rows_view} from public;
create function {function}() returns setof {rows_view}
    language sql stable security definer
    set search_path = pg_catalog, pg_temp
    as $rows$ select * from {rows_view} $rows$;
alter function {function}() owner to {owner};
revoke all on function {function}() from public;
grant execute on function {function}() to {role};
create view {view} with (security_barrier) as
select * from {function}();
