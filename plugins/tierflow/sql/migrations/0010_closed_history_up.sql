-- The history holds closed versions only: a record's current version is its library row
-- (valid from its changed_at), which the merge wrote in the same transaction as the open
-- version it held until now. Each open version is checked to be its library row (same key,
-- same row hash, valid_from = changed_at) before it goes; a history that disagrees stops the
-- migration with the table's name, and nothing is deleted.

do $$
begin
    if exists (
        select 1 from library.person_history as hist
        where hist.valid_to is null
          and not exists (
              select 1 from library.person as lib
              where lib.id_number = hist.id_number
                and lib.row_hash = hist.row_hash and lib.changed_at = hist.valid_from
          )
    ) then
        raise exception 'migration 0010: library.person_history holds an open version that is not its library row';
    end if;
end
$$;
delete from library.person_history where valid_to is null;
analyze library.person_history;

do $$
begin
    if exists (
        select 1 from library.legal_entity_history as hist
        where hist.valid_to is null
          and not exists (
              select 1 from library.legal_entity as lib
              where lib.uscc = hist.uscc
                and lib.row_hash = hist.row_hash and lib.changed_at = hist.valid_from
          )
    ) then
        raise exception 'migration 0010: library.legal_entity_history holds an open version that is not its library row';
    end if;
end
$$;
delete from library.legal_entity_history where valid_to is null;
analyze library.legal_entity_history;

do $$
begin
    if exists (
        select 1 from library.land_parcel_history as hist
        where hist.valid_to is null
          and not exists (
              select 1 from library.land_parcel as lib
              where lib.parcel_id = hist.parcel_id
                and lib.row_hash = hist.row_hash and lib.changed_at = hist.valid_from
          )
    ) then
        raise exception 'migration 0010: library.land_parcel_history holds an open version that is not its library row';
    end if;
end
$$;
delete from library.land_parcel_history where valid_to is null;
analyze library.land_parcel_history;

do $$
begin
    if exists (
        select 1 from library.address_history as hist
        where hist.valid_to is null
          and not exists (
              select 1 from library.address as lib
              where lib.address_id = hist.address_id
                and lib.row_hash = hist.row_hash and lib.changed_at = hist.valid_from
          )
    ) then
        raise exception 'migration 0010: library.address_history holds an open version that is not its library row';
    end if;
end
$$;
delete from library.address_history where valid_to is null;
analyze library.address_history;

do $$
begin
    if exists (
        select 1 from library.e_license_history as hist
        where hist.valid_to is null
          and not exists (
              select 1 from library.e_license as lib
              where lib.license_type_code = hist.license_type_code and lib.license_number = hist.license_number
                and lib.row_hash = hist.row_hash and lib.changed_at = hist.valid_from
          )
    ) then
        raise exception 'migration 0010: library.e_license_history holds an open version that is not its library row';
    end if;
end
$$;
delete from library.e_license_history where valid_to is null;
analyze library.e_license_history;
