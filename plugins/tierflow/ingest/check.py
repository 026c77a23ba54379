"""Check one batch of a delivery: parse it, run every rule's vectorised mask, tally the results.

A row is blocked (quarantined) by a NUL byte, a parse failure or a failing ``block`` rule;
a failing ``warn`` rule only counts. Nothing here loops per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow.checks.rules import (
    NUL_TYPE,
    PARSE_TYPE,
    RAGGED_TYPE,
    Rule,
    RuleContext,
    evaluate_with_reasons,
    rules_for,
)
from tierflow.contracts import Dataset, Severity
from tierflow.ingest.parse import parse_batch
from tierflow.quality.ledger import ExpectationResult

if TYPE_CHECKING:
    from tierflow.ingest.readers import RawBatch


@dataclass
class RuleTally:
    rule_id: str
    expectation_type: str
    column: str | None
    severity: Severity
    evaluated: int = 0
    failed: int = 0


@dataclass
class Tally:
    """What the checks found: rows read, warned and normalised, and per rule (the row fates,
    accepted or quarantined, are counted by the writer)."""

    rows_in: int = 0
    warned: int = 0
    normalised: int = 0
    rules: dict[str, RuleTally] = field(default_factory=dict)

    def count(
        self,
        rule_id: str,
        expectation_type: str,
        column: str | None,
        severity: Severity,
        evaluated: int,
        failed: int,
    ) -> None:
        entry = self.rules.setdefault(
            rule_id, RuleTally(rule_id, expectation_type, column, severity)
        )
        entry.evaluated += evaluated
        entry.failed += failed

    def count_lines(self, file_format: str, bad_lines: int) -> None:
        """Text formats have one line rule: lines that could not be split into fields."""
        if file_format in ("csv", "jsonl"):
            line_rule = "_row:ragged" if file_format == "csv" else "_row:malformed_json"
            self.count(line_rule, RAGGED_TYPE, None, Severity.block, self.rows_in, bad_lines)

    @property
    def suite_success(self) -> bool:
        return all(r.failed == 0 for r in self.rules.values())

    def results(self) -> list[ExpectationResult]:
        return [
            ExpectationResult(
                r.rule_id, r.expectation_type, r.column, r.severity.value, r.evaluated, r.failed
            )
            for r in self.rules.values()
        ]


@dataclass
class Checked:
    """One batch after checking: the parsed rows and which of them are blocked, and why."""

    table: pa.Table
    blocked: np.ndarray
    failing: list[tuple[str, np.ndarray]]
    normalised: np.ndarray

    def reasons(self) -> pa.Array:
        """'; '-joined reasons (rule ids, or rule id + fault) per blocked row, vectorised per reason."""
        rows = self.blocked
        reasons = pa.array([""] * int(rows.sum()), pa.string())
        for rule_id, mask in self.failing:
            selected = mask[rows]
            if selected.any():
                joined = pc.binary_join_element_wise(reasons, pa.scalar(rule_id), "; ")
                reasons = pc.if_else(pa.array(selected), joined, reasons)
        return pc.utf8_ltrim(pc.replace_substring_regex(reasons, r"^; ", ""), characters=" ")


def _nul_bytes(raw: pa.Table) -> dict[str, np.ndarray]:
    """Per delivered text column holding a NUL byte somewhere: the rows that do (vectorised)."""
    found = {}
    for name in raw.column_names:
        column = raw.column(name)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        mask = pc.fill_null(pc.match_substring(column, "\x00"), False)
        if pc.any(mask).as_py():
            found[name] = np.asarray(
                mask.combine_chunks() if hasattr(mask, "combine_chunks") else mask, dtype=bool
            )
    return found


class Checker:
    """The rules of one dataset in one context; :meth:`check` may run on the read-ahead thread,
    where it touches only the per-rule tallies and the warned count."""

    def __init__(self, dataset: Dataset, ctx: RuleContext, tally: Tally) -> None:
        self.dataset = dataset
        self.ctx = ctx
        self.tally = tally
        self.rules: list[Rule] = rules_for(dataset, ctx.known_districts)

    def check(self, batch: RawBatch) -> Checked:
        dataset, tally = self.dataset, self.tally
        parsed = parse_batch(batch.table, dataset)
        n = parsed.table.num_rows
        blocked = np.zeros(n, dtype=bool)
        warned = np.zeros(n, dtype=bool)
        failing: list[tuple[str, np.ndarray]] = []
        for column, mask in _nul_bytes(batch.table).items():
            failing.append((f"{column}:nul_byte", mask))
            blocked |= mask
            tally.count(f"{column}:nul_byte", NUL_TYPE, column, Severity.block, n, int(mask.sum()))
        for column, mask in parsed.parse_failures.items():
            failing.append((f"{column}:parse", mask))
            blocked |= mask
        for col in dataset.columns:
            parse_mask = parsed.parse_failures.get(col.name)
            failed = int(parse_mask.sum()) if parse_mask is not None else 0
            tally.count(f"{col.name}:parse", PARSE_TYPE, col.name, Severity.block, n, failed)
        id_facts: dict = {}  # per batch: ID-number facts shared by the rules reading that column
        for rule in self.rules:
            fail, evaluated, reasons = evaluate_with_reasons(rule, parsed.table, self.ctx, id_facts)
            if rule.kind == "not_null" and rule.columns[0] in parsed.parse_failures:
                # reported once, as a parse failure
                fail = fail & ~parsed.parse_failures[rule.columns[0]]
                reasons = [(rule.rule_id, fail)]
            failed = int(fail.sum())
            tally.count(
                rule.rule_id,
                rule.expectation_type,
                rule.columns[0],
                rule.severity,
                evaluated,
                failed,
            )
            if failed:
                failing.extend(reasons)  # the rule id, or one reason per fault (identifier rules)
                if rule.severity == Severity.block:
                    blocked |= fail
                else:
                    warned |= fail
        tally.warned += int((warned & ~blocked).sum())
        return Checked(parsed.table, blocked, failing, parsed.normalised)
