-- On Citus only: the views' owner may log in, because the security-definer functions behind
-- the pull views (pull_view_definer.sql) make the coordinator open its connections to the
-- workers as that owner; and it bypasses row-level security, because the tables' policy
-- (district_rows: the district is the current role's name) cannot know the district when
-- the reader is the owner, on the coordinator or on a worker. On Citus the district filter
-- is therefore the literal one inside each function's view (tests/citus/test_sink.py proves
-- each district reads exactly its rows). Clients must still not log in as the owner: on
-- servers, pg_hba admits tierflow_share only from the coordinator to the workers.
alter role {owner} login bypassrls;
