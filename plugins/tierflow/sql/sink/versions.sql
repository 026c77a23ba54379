-- The versions of a library table (spliced in as a FROM item, this comment dropped), the
-- closed ones in its history and the current ones in the table itself, each row valid from
-- its changed_at, the columns in the history's order (the library's, then valid_from and
-- valid_to). A range of pages of a first feed applies to both tables.
(select * from {history} as h where {pages} union all select h.*, h.changed_at as valid_from, cast(null as timestamptz) as valid_to from {current} as h where {pages})
