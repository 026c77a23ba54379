"""SQL composition: the survivorship rules of one library table turned into statements.

The statements live in ``sql/merge/*.sql`` (one purpose each, CTE steps ending in
``select * from final``); this module only fills their placeholders with quoted identifiers
and fragments built from those identifiers. Every value (dataset ids, filter values,
constants, field names used as JSON keys, delivery bounds) is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tierflow import sql_files
from tierflow.merge.survivorship import (
    REFERENCE_TARGETS,
    Derivation,
    Reference,
    Strategy,
    TableRule,
)
from tierflow.pool import quote

if TYPE_CHECKING:
    from tierflow.contracts import Catalog


# The write steps of upsert(), in the order they run, by the count each one's rows make. The
# library row is a record's current version; the history holds closed versions only.
UPSERT_STEPS = {
    "inserted": "upsert_insert",
    "history_closed": "history_close",
    "updated": "upsert_update",
}
STATEMENT_BREAK = "\n;\n"

# Derived facts, as SQL over the (quoted) golden key; ID numbers and codes are validated at
# ingest, the shape guards only keep a hand-loaded bad key from failing the whole merge.
DERIVATIONS: dict[Derivation, str] = {
    Derivation.birth_date_from_id: (
        "case when {key} ~ '^[0-9]{{17}}[0-9X]$' then substr({key}, 7, 4) || '-' || "
        "substr({key}, 11, 2) || '-' || substr({key}, 13, 2) end"
    ),
    Derivation.gender_from_id: (
        "case when substr({key}, 17, 1) ~ '^[0-9]$' then "
        "case when cast(substr({key}, 17, 1) as int) % 2 = 1 then '1' else '2' end end"
    ),
    Derivation.entity_kind_from_uscc: "case when length({key}) = 18 then substr({key}, 1, 2) end",
    Derivation.district_from_uscc: "case when length({key}) = 18 then substr({key}, 3, 6) end",
}


# The provenance of a derived field: the key it was derived from (JSON text; field and key
# names are identifiers, so they need no JSON escaping).
DERIVED_PROVENANCE = "'{\"derived_from\": \"' || cast(:key_name as text) || '\"}'"


def template(name: str, **fragments: str) -> str:
    """``sql/merge/<name>`` through the one loader, its ``{fragments}`` filled in."""
    return sql_files.sql("merge", name, **fragments)


def fragment(name: str, **fragments: str) -> str:
    """A one-line SQL piece spliced into a statement (its leading comment dropped)."""
    lines = template(name, **fragments).splitlines()
    return " ".join(line for line in lines if not line.startswith("--"))


def _non_empty(expression: str) -> str:
    return f"btrim({expression}) <> ''"


@dataclass
class TablePlan:
    """Statements for one library table; work table names are unique per library table (merges
    of one library are serialised by its lock, so two merges never share them)."""

    library: str
    table: str
    rule: TableRule
    column_types: dict[str, str]  # golden column -> PostgreSQL type, read from the catalog
    catalog: Catalog
    citus: bool = False  # the server is a Citus coordinator: statements pushed down to shards
    # touched keys whose sources' newest rows kept their change hash are left out before
    # survivorship (changed_keys.sql); merge --full recomputes every key
    skip_unchanged: bool = True
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.aliases = list(self.rule.sources)
        self.fields = list(self.rule.fields)
        self.touched = "merge_work." + quote(f"touched_{self.table}")
        # every touched key, when the ones to recompute (touched) are a subset of them
        self.touched_all = "merge_work." + quote(f"touched_all_{self.table}")
        # a sample of touched_all: whether checking every key's hashes pays (merge.run)
        self.touched_probe = "merge_work." + quote(f"touched_probe_{self.table}")
        self.golden = "merge_work." + quote(f"golden_{self.table}")
        # the touched keys' current records, fetched by index when they are few (merge.run)
        self.current = "merge_work." + quote(f"current_{self.table}")
        self.current_by_index = False
        self.library_table = f"library.{quote(self.table)}"
        self.history_table = f"library.{quote(self.table + '_history')}"
        self.keys = [quote(k) for k in self.rule.key]
        for i, alias in enumerate(self.aliases):
            self.params[f"src_{i}_dataset"] = self.rule.dataset_of(alias)
            source = self.rule.sources[alias]
            for j, value in enumerate(source.only.values()):
                self.params[f"only_{i}_{j}"] = value
            for j, value in enumerate(source.constants.values()):
                self.params[f"const_{i}_{j}"] = value
        for j, name in enumerate(self.fields):
            self.params[f"field_{j}"] = name

    # -- helpers -----------------------------------------------------------------------
    def work_tables(self) -> list[str]:
        """The merge's own tables (schema merge_work), dropped before it commits."""
        sources = [self.source_table(i) for i in range(len(self.aliases))]
        references = [self.references_table(r) for r in self.rule.references]
        every = [self.touched_all, self.touched_probe] if self.skip_unchanged else []
        return [*every, self.touched, *sources, self.current, self.golden, *references]

    def source_table(self, i: int) -> str:
        return "merge_work." + quote(f"src_{self.table}_{i}")

    def pool_table(self, alias: str) -> str:
        return f"pool.{quote(self.catalog.dataset(self.rule.dataset_of(alias)).table_name)}"

    def key_text(self, qualifier: str) -> str:
        """The key as one text value (quality tables key records by text)."""
        columns = [f"{qualifier}.{k}" for k in self.keys]
        return columns[0] if len(columns) == 1 else f"concat_ws('|', {', '.join(columns)})"

    def _key_join(self, left: str, right: str, right_keys: list[str] | None = None) -> str:
        right_keys = right_keys or self.keys
        return " and ".join(
            f"{left}.{k} = {right}.{r}" for k, r in zip(self.keys, right_keys, strict=True)
        )

    def _row_filter(self, i: int) -> str:
        only = self.rule.sources[self.aliases[i]].only
        return "".join(f" and src.{quote(column)} = :only_{i}_{j}" for j, column in enumerate(only))

    def _candidates(self, j: int) -> list[tuple[int, str]]:
        """(source index, value column in the source work table) of field ``j``, rule order."""
        out = []
        for ref in self.rule.fields[self.fields[j]].sources:
            alias, _, column = ref.rpartition(".")
            out.append((self.aliases.index(alias), column))
        return out

    # -- statements ----------------------------------------------------------------------
    def new_rows(self, alias: str) -> str:
        return template("new_rows.sql", pool_table=self.pool_table(alias))

    def touched_keys(self) -> str:
        parts = []
        for i, alias in enumerate(self.aliases):
            source_keys = [quote(k) for k in self.rule.source_key(alias)]
            select = ", ".join(
                f"src.{s} as {k}" for s, k in zip(source_keys, self.keys, strict=True)
            )
            parts.append(
                fragment(
                    "touched_keys_source.sql",
                    key_select=select,
                    pool_table=self.pool_table(alias),
                    i=str(i),
                    row_filter=self._row_filter(i),
                )
            )
        return template(
            "touched_keys.sql",
            new_source_keys="\n    union all\n    ".join(parts),
        )

    def changed_keys(self, touched: str | None = None) -> str:
        """The keys of ``touched`` (default touched_all) whose golden record may change (see
        changed_keys.sql)."""
        blocks = []
        for i, alias in enumerate(self.aliases):
            dataset = self.catalog.dataset(self.rule.dataset_of(alias))
            source_keys = [quote(k) for k in self.rule.source_key(alias)]
            blocks.append(
                template(
                    "changed_keys_source.sql",
                    i=str(i),
                    key_select=", ".join(
                        f"src.{s} as {k}" for s, k in zip(source_keys, self.keys, strict=True)
                    ),
                    updated_at=quote(dataset.updated_at or "updated_at"),
                    pool_table=self.pool_table(alias),
                    touched=touched or self.touched_all,
                    key_join=" and ".join(
                        f"src.{s} = touched.{k}"
                        for s, k in zip(source_keys, self.keys, strict=True)
                    ),
                    row_filter=self._row_filter(i),
                    key_columns=", ".join(self.keys),
                ).strip()
            )
        return template(
            "changed_keys.sql",
            source_changes=",\n\n".join(blocks),
            changed_keys="\n    union all\n    ".join(
                fragment("changed_keys_union.sql", i=str(i)) for i in range(len(self.aliases))
            ),
        )

    def source_latest(self, i: int, *, by_index: bool = False) -> str:
        """The newest pool row per key of source ``i`` (source_latest.sql); ``by_index``: the
        touched keys in key order, so their lookups walk the pool's key index in order."""
        alias = self.aliases[i]
        source = self.rule.sources[alias]
        dataset = self.catalog.dataset(self.rule.dataset_of(alias))
        source_keys = [quote(k) for k in self.rule.source_key(alias)]
        constants = list(source.constants)
        values = []
        for column in self.rule.columns_of(alias):
            if column in constants:
                values.append(
                    f"cast(:const_{i}_{constants.index(column)} as text) as {quote('v__' + column)}"
                )
            else:
                values.append(f"cast(src.{quote(column)} as text) as {quote('v__' + column)}")
        return template(
            "source_latest.sql",
            key_select=", ".join(
                f"src.{s} as {k}" for s, k in zip(source_keys, self.keys, strict=True)
            ),
            value_select=",\n        ".join(values) or "null as _no_value",
            updated_at=quote(dataset.updated_at or "updated_at"),
            pool_table=self.pool_table(alias),
            touched=self._in_key_order(self.touched) if by_index else self.touched,
            key_join=" and ".join(
                f"src.{s} = touched.{k}" for s, k in zip(source_keys, self.keys, strict=True)
            ),
            row_filter=self._row_filter(i),
            key_columns=", ".join(self.keys),
        )

    def _winner(self, j: int) -> tuple[str, str]:
        """(value, source index) CASE expressions of field ``j``'s winning non-empty candidate.

        Priority: the first non-empty candidate in rule order. Recency: the non-empty candidate
        with the latest source ``updated_at`` (nulls last, ties by rule order), written as one
        pairwise comparison per other candidate: per row this costs a few comparisons, where a
        lateral sort of a VALUES list costs a sort node per key.
        """
        candidates = self._candidates(j)
        strategy = self.rule.fields[self.fields[j]].strategy
        whens: list[tuple[str, str, int]] = []
        for rank, (i, column) in enumerate(candidates):
            value = quote(f"s{i}__{column}")
            conditions = [_non_empty(value)]
            if strategy == Strategy.recency and len(candidates) > 1:
                mine = quote(f"s{i}__updated_at")
                for other_rank, (o, other_column) in enumerate(candidates):
                    if other_rank == rank:
                        continue
                    theirs = quote(f"s{o}__updated_at")
                    beats = [
                        f"{mine} > {theirs}",
                        f"({mine} is not null and {theirs} is null)",
                    ]
                    if rank < other_rank:
                        beats.append(f"{mine} is not distinct from {theirs}")
                    other = quote(f"s{o}__{other_column}")
                    conditions.append(
                        f"(not coalesce({_non_empty(other)}, false) or {' or '.join(beats)})"
                    )
            whens.append((" and ".join(conditions), value, i))
        value_case = "case " + " ".join(f"when {c} then {v}" for c, v, _ in whens) + " end"
        source_case = "case " + " ".join(f"when {c} then {i}" for c, _, i in whens) + " end"
        return value_case, source_case

    def _in_key_order(self, table: str) -> str:
        """A work table as a subquery sorted by key: the outer side of a nested loop of index
        lookups, which then visit the index's pages in order, each once, instead of at random
        (a 20M-person library's key index is several times the shared buffers)."""
        return fragment("in_key_order.sql", table=table, key_columns=", ".join(self.keys))

    def current_records(self) -> str:
        """The touched keys' library records (current_records.sql)."""
        return template(
            "current_records.sql",
            touched=self._in_key_order(self.touched),
            library_table=self.library_table,
            current_join=self._key_join("current_record", "touched"),
        )

    def golden_select(self) -> str:
        candidate_select: list[str] = []
        joins: list[str] = []
        for i in range(len(self.aliases)):
            s = quote(f"s{i}")
            joins.append(
                f"left join {self.source_table(i)} as {s} on {self._key_join(s, 'touched')}"
            )
            candidate_select.append(f"{s}._updated_at as {quote(f's{i}__updated_at')}")
            candidate_select.append(f"{s}._delivery_id as {quote(f's{i}__delivery_id')}")
            for column in self.rule.columns_of(self.aliases[i]):
                candidate_select.append(
                    f"{s}.{quote('v__' + column)} as {quote(f's{i}__{column}')}"
                )
        for name in self.fields:
            candidate_select.append(
                f"cast(current_record.{quote(name)} as text) as {quote('cur__' + name)}"
            )
        creators = [
            f"{quote(f's{i}')}._delivery_id is not null"
            for i, alias in enumerate(self.aliases)
            if self.rule.sources[alias].creates_record
        ]

        winner_select: list[str] = []
        golden_select: list[str] = []
        provenance: list[str] = []
        conflict_select: list[str] = []
        for j, name in enumerate(self.fields):
            rule = self.rule.fields[name]
            w = f"w{j}"
            candidates = self._candidates(j)
            value, source = ("cast(null as text)", "cast(null as int)")
            if candidates:
                value, source = self._winner(j)
            winner_select.append(f"{value} as {quote(w + '_value')}")
            winner_select.append(f"{source} as {quote(w + '_source')}")
            current = quote("cur__" + name)
            derived = DERIVATIONS[rule.derive].format(key=self.keys[0]) if rule.derive else "null"
            keep = current if rule.on_empty == "keep" else "null"
            golden_select.append(
                f"cast(coalesce({quote(w + '_value')}, {keep}, {derived}) as {self.column_types[name]})"
                f" as {quote(name)}"
            )
            # Provenance as JSON text: the winning source's delivery id, the kept field's
            # earlier provenance, or the derivation; parsed into jsonb once per written record.
            won_by = " ".join(
                f"when {quote(w + '_source')} = {i} then cast({quote(f's{i}__delivery_id')} as text)"
                for i in dict.fromkeys(i for i, _ in candidates)
            )
            provenance.append(
                "case"
                + (
                    f" when {quote(w + '_value')} is not null then case {won_by} end"
                    if candidates
                    else ""
                )
                + f" when {keep} is not null then cast(_current_provenance -> cast(:field_{j} as text) as text)"
                f" when {derived} is not null then {DERIVED_PROVENANCE}"
                f" end as {quote(f'_provenance_{j}')}"
            )
            if len(candidates) > 1:
                conflict_select += [quote(f"s{i}__{column}") for i, column in candidates]
                dataset = " ".join(
                    f"when {quote(w + '_source')} = {i} then cast(:src_{i}_dataset as text)"
                    for i in dict.fromkeys(i for i, _ in candidates)
                )
                conflict_select += [
                    quote(w + "_value"),
                    f"case {dataset} end as {quote(w + '_dataset')}",
                ]
        if conflict_select and self._conflicts_need_two_sources():
            present = ", ".join(quote(f"s{i}__delivery_id") for i in range(len(self.aliases)))
            conflict_select.append(f"num_nonnulls({present}) as _sources_present")
        self.params["key_name"] = "|".join(self.rule.key)
        return template(
            "golden.sql",
            fence="" if self.citus else "offset 0",
            touched_key_select=", ".join(f"touched.{k}" for k in self.keys),
            candidate_select=",\n        ".join(candidate_select),
            creator_present=" or ".join(creators),
            first_key=self.keys[0],
            touched=self.touched,
            source_joins="\n    ".join(joins),
            library_table=self.current if self.current_by_index else self.library_table,
            current_join=self._key_join("current_record", "touched"),
            winner_select=",\n        ".join(winner_select),
            key_columns=", ".join(self.keys),
            golden_select=",\n        ".join(golden_select + provenance),
            field_columns=", ".join(quote(f) for f in self.fields),
            provenance_pairs=", ".join(
                f"'\"' || cast(:field_{j} as text) || '\":' || {quote(f'_provenance_{j}')}"
                for j in range(len(self.fields))
            ),
            conflict_columns=", ".join(
                dict.fromkeys(c.rpartition(" as ")[2] for c in conflict_select)
            )
            or "_no_conflicts",
            conflict_select=",\n        ".join(dict.fromkeys(conflict_select))
            or "null as _no_conflicts",
            hashed_fields=", ".join(quote(f) for f in self.fields),
        )

    def upsert(self, *, key_order: bool = False) -> str:
        """The write steps (UPSERT_STEPS, in order), separated by STATEMENT_BREAK. When the
        current records were looked up by index, the update reads the golden records in key
        order (see _in_key_order) and the closed versions come from those current records."""
        field_columns = ", ".join(quote(f) for f in self.fields)
        fragments = {
            "write_order": f"order by {', '.join(self.keys)}" if key_order else "",
            "history_order": (
                f"order by {', '.join(f'lib.{k}' for k in self.keys)}" if key_order else ""
            ),
            "lib_key_columns": ", ".join(f"lib.{k}" for k in self.keys),
            "lib_field_columns": ", ".join(f"lib.{quote(f)}" for f in self.fields),
            "golden": self.golden,
            "golden_for_update": (
                self._in_key_order(self.golden) if self.current_by_index else self.golden
            ),
            "library_table": self.library_table,
            # the changed records' current rows, as the golden step read them (merge.run)
            "current_table": self.current if self.current_by_index else self.library_table,
            "history_table": self.history_table,
            "key_columns": ", ".join(self.keys),
            "field_columns": field_columns,
            "update_assignments": ", ".join(f"{quote(f)} = golden.{quote(f)}" for f in self.fields),
            "library_join": self._key_join("lib", "golden"),
        }
        return STATEMENT_BREAK.join(
            template(f"{step}.sql", **fragments) for step in UPSERT_STEPS.values()
        )

    def conflicts(self) -> str | None:
        parts = []
        for j in range(len(self.fields)):
            candidates = self._candidates(j)
            if len(candidates) < 2:
                continue
            for i, column in candidates:
                parts.append(
                    fragment(
                        "conflict_candidate.sql",
                        key_text=self.key_text("golden"),
                        j=str(j),
                        i=str(i),
                        kept=f"golden.{quote(f'w{j}_value')}",
                        kept_source=f"golden.{quote(f'w{j}_dataset')}",
                        other=f"golden.{quote(f's{i}__{column}')}",
                    )
                )
        if not parts:
            return None
        return template(
            "conflicts.sql",
            golden=self.golden,
            candidate_rows=",\n        ".join(parts),
            # Records with a single source cannot disagree: skip unfolding them.
            only_multi_source=(
                "where golden._sources_present > 1" if self._conflicts_need_two_sources() else ""
            ),
        )

    def _conflicts_need_two_sources(self) -> bool:
        """True when every disagreement is between two sources (no field lists two columns
        of one source), so a record with one source present has none."""
        for j in range(len(self.fields)):
            sources = [i for i, _ in self._candidates(j)]
            if len(sources) != len(set(sources)):
                return False
        return True

    def references_table(self, reference: Reference) -> str:
        return "merge_work." + quote(f"refs_{self.table}_{reference.relation}")

    def orphans(self, reference: Reference) -> tuple[str, str, str]:
        """(forget, references, flag) statements of one reference of this table: the
        references query fills references_table(reference), which flag reads."""
        when = "".join(
            f" and lib.{quote(column)} = :when_{n}" for n, column in enumerate(reference.when)
        )
        for n, value in enumerate(reference.when.values()):
            self.params[f"when_{n}"] = value
        target_key = quote(REFERENCE_TARGETS[reference.target])
        forget = template(
            "orphans_forget.sql", touched=self.touched, touched_key_text=self.key_text("touched")
        )
        references = template(
            "orphans_references.sql",
            record_key_text=self.key_text("lib"),
            column=quote(reference.column),
            target_key=target_key,
            library_table=self.library_table,
            touched=self.touched,
            touched_join=self._key_join("lib", "touched"),
            when_filter=when,
        )
        flag = template(
            "orphans_flag.sql",
            references=self.references_table(reference),
            target_table=f"library.{quote(reference.target)}",
            target_key=target_key,
        )
        return forget, references, flag


def orphans_resolve(reference: Reference) -> str:
    return template(
        "orphans_resolve.sql",
        target_table=f"library.{quote(reference.target)}",
        target_key=quote(REFERENCE_TARGETS[reference.target]),
    )
