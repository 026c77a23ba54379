-- Every record's current version back into its history as the open version: its library
-- row, valid from its changed_at (the history's columns are the library's, then valid_from,
-- valid_to: 0001 made them so and no migration since changed either).

insert into library.person_history
select lib.*, lib.changed_at, null from library.person as lib;
analyze library.person_history;

insert into library.legal_entity_history
select lib.*, lib.changed_at, null from library.legal_entity as lib;
analyze library.legal_entity_history;

insert into library.land_parcel_history
select lib.*, lib.changed_at, null from library.land_parcel as lib;
analyze library.land_parcel_history;

insert into library.address_history
select lib.*, lib.changed_at, null from library.address as lib;
analyze library.address_history;

insert into library.e_license_history
select lib.*, lib.changed_at, null from library.e_license as lib;
analyze library.e_license_history;
