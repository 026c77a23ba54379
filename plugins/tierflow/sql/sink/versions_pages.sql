-- A range of pages of a table holding all its versions (spliced in as a FROM item, this
-- comment dropped; see versions.sql for a library's).
(select * from {table} as h where {pages})
