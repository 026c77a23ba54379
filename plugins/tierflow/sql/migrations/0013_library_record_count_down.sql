drop table if exists library.record_count;
