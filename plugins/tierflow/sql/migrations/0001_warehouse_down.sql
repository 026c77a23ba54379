drop schema if exists thematic cascade;
drop schema if exists feed cascade;
drop schema if exists library cascade;
drop schema if exists quality cascade;
drop schema if exists pool cascade;
drop schema if exists ref cascade;
