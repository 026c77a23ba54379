"""The rule set of a dataset, derived from its contract.

Each rule is one Great Expectations expectation (built-in where GX has one, a custom
tierflow expectation where it does not) with a stable ``rule_id`` (``<column>:<kind>``)
used for quality history. A quarantine reason (and the generator's ground-truth defect) is
the rule id, except for the identifier rules, whose failures say which part of the rule
failed: ``<column>:citizen_id:<fault>`` / ``<column>:uscc:<fault>`` with a fault of
``identifiers.Fault`` (e.g. ``id_number:citizen_id:date_not_calendar``); the GX expectation
and the quality tally count the rule once per failing row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tierflow import identifiers
from tierflow.checks import masks
from tierflow.contracts import ColumnType, Dataset, PairRule, Semantic, Severity

# rule kind -> GX expectation type (snake case, as in suite JSON)
EXPECTATION_TYPES = {
    "exists": "expect_column_to_exist",
    "not_null": "expect_column_values_to_not_be_null",
    "in_set": "expect_column_values_to_be_in_set",
    "pattern": "expect_column_values_to_match_regex",
    "range": "expect_column_values_to_be_between",
    "max_length": "expect_column_value_lengths_to_be_between",
    "citizen_id": "expect_column_values_to_be_valid_citizen_id",
    "uscc": "expect_column_values_to_be_valid_uscc",
    "division_code": "expect_column_values_to_be_known_division_code",
    "wkt_polygon": "expect_column_values_to_be_valid_polygon_in_city_box",
    "not_future": "expect_column_values_to_not_be_in_the_future",
    "birth_date_matches_id": "expect_column_pair_values_birth_date_to_match_citizen_id",
    "gender_matches_id": "expect_column_pair_values_gender_to_match_citizen_id",
    "not_before": "expect_column_pair_values_a_to_be_greater_than_b",
    "holder_id_matches_kind": "expect_column_pair_values_holder_id_to_match_kind",
    "in_city_box": "expect_column_pair_values_to_be_in_city_box",
}
# Reader-level rules: a value that cannot be parsed into its contract type, a ragged line.
PARSE_TYPE = "tierflow_value_parses_as_contract_type"
RAGGED_TYPE = "tierflow_line_has_header_field_count"
NUL_TYPE = "tierflow_value_has_no_nul_byte"  # PostgreSQL text cannot hold one: the row is held back
# Rules whose failing rows are reported per fault (the reason names the part that failed).
FAULT_KINDS: dict[str, tuple[identifiers.Fault, ...]] = {
    "citizen_id": identifiers.ID_FAULTS,
    "uscc": identifiers.USCC_FAULTS,
}


@dataclass(frozen=True)
class Rule:
    rule_id: str
    kind: str
    columns: tuple[str, ...]
    severity: Severity
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def expectation_type(self) -> str:
        return EXPECTATION_TYPES[self.kind]

    @property
    def reasons(self) -> tuple[str, ...]:
        """Every quarantine reason this rule can give."""
        if self.kind in FAULT_KINDS:
            return tuple(self.fault_reason(f) for f in FAULT_KINDS[self.kind])
        return (self.rule_id,)

    def fault_reason(self, fault: identifiers.Fault) -> str:
        return f"{self.rule_id}:{fault.reason}"

    def gx_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the GX expectation, as they appear in the suite JSON."""
        if len(self.columns) == 2:
            base: dict[str, Any] = {"column_A": self.columns[0], "column_B": self.columns[1]}
            if self.kind == "not_before":
                base |= {"or_equal": True, "ignore_row_if": "either_value_is_missing"}
        else:
            base = {"column": self.columns[0]}
        return base | self.kwargs


@dataclass(frozen=True)
class RuleContext:
    """Facts that come from the world rather than the contract."""

    known_districts: tuple[str, ...]
    township_prefixes: tuple[str, ...] = ()
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def today(self) -> dt.date:
        """The platform's today (Asia/Shanghai) at ``now``: the latest date an ID may encode."""
        return identifiers.platform_today(self.now)


def rules_for(dataset: Dataset, known_districts: tuple[str, ...]) -> list[Rule]:
    rules: list[Rule] = []
    for col in dataset.columns:
        rid = lambda kind, c=col: f"{c.name}:{kind}"  # noqa: E731
        sev = col.severity
        rules.append(Rule(rid("exists"), "exists", (col.name,), Severity.block))
        if not col.nullable:
            rules.append(Rule(rid("not_null"), "not_null", (col.name,), Severity.block))
        if col.enum is not None:
            rules.append(
                Rule(rid("in_set"), "in_set", (col.name,), sev, {"value_set": list(col.enum)})
            )
        if col.pattern is not None:
            rules.append(Rule(rid("pattern"), "pattern", (col.name,), sev, {"regex": col.pattern}))
        if col.min is not None or col.max is not None:
            rules.append(
                Rule(
                    rid("range"),
                    "range",
                    (col.name,),
                    sev,
                    {"min_value": col.min, "max_value": col.max},
                )
            )
        if col.type == ColumnType.string and col.max_length is not None:
            rules.append(
                Rule(
                    rid("max_length"), "max_length", (col.name,), sev, {"max_value": col.max_length}
                )
            )
        if col.semantic == Semantic.citizen_id:
            rules.append(Rule(rid("citizen_id"), "citizen_id", (col.name,), sev))
        elif col.semantic == Semantic.uscc:
            rules.append(Rule(rid("uscc"), "uscc", (col.name,), sev))
        elif col.semantic == Semantic.division_code:
            rules.append(
                Rule(
                    rid("division_code"),
                    "division_code",
                    (col.name,),
                    sev,
                    {"known_districts": list(known_districts)},
                )
            )
        elif col.semantic == Semantic.wkt_polygon:
            rules.append(Rule(rid("wkt_polygon"), "wkt_polygon", (col.name,), sev))
        if col.not_future:
            rules.append(Rule(rid("not_future"), "not_future", (col.name,), sev))
    for check in dataset.checks:
        rules.append(
            Rule(
                f"{check.columns[0]}:{check.rule.value}",
                check.rule.value,
                check.columns,
                check.severity,
            )
        )
    return rules


def evaluate(
    rule: Rule, table: pa.Table, ctx: RuleContext, shared: dict[str, masks.IdFacts] | None = None
) -> tuple[np.ndarray, int]:
    """Failing-row mask of one rule over a parsed, normalised table, and how many rows it evaluated.

    ``shared`` (one dict per batch) lets the rules reading the same ID-number column compute its
    faults, birth date and gender once instead of once per rule.
    """
    fail, evaluated, _ = evaluate_with_reasons(rule, table, ctx, shared)
    return fail, evaluated


def evaluate_with_reasons(
    rule: Rule, table: pa.Table, ctx: RuleContext, shared: dict[str, masks.IdFacts] | None = None
) -> tuple[np.ndarray, int, list[tuple[str, np.ndarray]]]:
    """``evaluate`` plus the quarantine reasons: ``(reason, failing-row mask)`` pairs.

    The reason is the rule id, or for the identifier rules one reason per fault found (a row
    may have several, e.g. a wrong check character and an impossible date).
    """
    cols = [
        table.column(name).combine_chunks()
        if isinstance(table.column(name), pa.ChunkedArray)
        else table.column(name)
        for name in rule.columns
    ]
    n = table.num_rows
    kind = rule.kind
    if kind == "exists":
        return np.zeros(n, dtype=bool), n, []
    if kind == "not_null":
        fail = masks.not_null(cols[0])
        return fail, n, [(rule.rule_id, fail)]
    evaluated = (
        int(masks.present(cols[0]).sum())
        if len(cols) == 1
        else int((masks.present(cols[0]) & masks.present(cols[1])).sum())
    )
    faults: np.ndarray | None = None
    match kind:
        case "in_set":
            fail = masks.in_set(cols[0], rule.kwargs["value_set"])
        case "pattern":
            fail = masks.pattern(cols[0], rule.kwargs["regex"])
        case "range":
            fail = masks.value_range(cols[0], rule.kwargs["min_value"], rule.kwargs["max_value"])
        case "max_length":
            fail = masks.max_length(cols[0], rule.kwargs["max_value"])
        case "citizen_id":
            facts = _facts(shared, rule.columns[0], cols[0], ctx)
            faults = facts.faults
            fail = masks.citizen_id(cols[0], facts)
        case "uscc":
            faults = identifiers.uscc_faults(cols[0])
            fail = masks.uscc(cols[0], faults)
        case "division_code":
            fail = masks.division_code(
                cols[0], list(ctx.known_districts), list(ctx.township_prefixes) or None
            )
        case "wkt_polygon":
            fail = masks.wkt_polygon(cols[0])
        case "not_future":
            fail = masks.not_future(cols[0], ctx.now)
        case PairRule.birth_date_matches_id:
            fail = masks.birth_date_matches_id(
                cols[0], cols[1], _facts(shared, rule.columns[1], cols[1], ctx)
            )
        case PairRule.gender_matches_id:
            fail = masks.gender_matches_id(
                cols[0], cols[1], _facts(shared, rule.columns[1], cols[1], ctx)
            )
        case PairRule.not_before:
            fail = masks.not_before(cols[0], cols[1])
        case PairRule.holder_id_matches_kind:
            fail = masks.holder_id_matches_kind(cols[0], cols[1], ctx.today)
        case PairRule.in_city_box:
            fail = masks.in_city_box(cols[0], cols[1])
        case _:
            raise ValueError(f"unknown rule kind {kind!r}")
    if faults is None:
        return fail, evaluated, [(rule.rule_id, fail)]
    found = masks.fault_masks(cols[0], faults, FAULT_KINDS[kind])
    return fail, evaluated, [(rule.fault_reason(fault), mask) for fault, mask in found]


def _facts(
    shared: dict[str, masks.IdFacts] | None, column: str, values: pa.Array, ctx: RuleContext
) -> masks.IdFacts:
    if shared is None:
        return masks.id_facts(values, ctx.today)
    if column not in shared:
        shared[column] = masks.id_facts(values, ctx.today)
    return shared[column]
