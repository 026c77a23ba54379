-- Reverse of 0008_sharing_lists_up.sql: the online lists and their trail go with it
-- (export them first: tierflow lists export).
drop schema if exists sharing cascade;
