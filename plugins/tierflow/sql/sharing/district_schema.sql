-- A district's schema, rebuilt from scratch: only its role (and the views' owner) may use it.
drop schema if exists {schema} cascade;
create schema {schema};
revoke all on schema {schema} from public;
grant usage on schema {schema} to {role}, {owner};
