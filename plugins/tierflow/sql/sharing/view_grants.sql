-- A pull view belongs to the views' owner; only its district's role may read it.
alter view {view} owner to {owner};
revoke all on {view} from public;
grant select on {view} to {role};
