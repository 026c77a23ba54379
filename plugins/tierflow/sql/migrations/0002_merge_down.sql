drop index if exists quality.orphan_by_missing_key;
drop index if exists pool.nhc_vital_event_person;
drop index if exists quality.conflict_once;
drop table if exists library.merge_watermark;
