-- Lines of one delivery that could not be split into fields, kept whole until recorded.
create temp table {stage} (_row_number bigint, _reasons text, _line text) on commit drop
