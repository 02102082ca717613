"""A little realistic dirt in the telephony files: about one row in 5,000.

Real exports are never perfectly clean, and the warehouse's quarantine (docs/kpi-definitions.md,
"Data quality") should be exercised end to end by the sample data. Each kind of dirty row below
is meant to land under the quarantine reason of the same name:

* `bad_timestamp` - the start time in the partner's own layout but impossible
  (`31/02/2024 25:61`), a zero date (`00/00/0000 00:00`), or the 1970 epoch of an unset clock
  (it parses, but falls outside the warehouse calendar). In a workbook the cell is text.
* `negative_duration` - talk or wrap time negative (`-290`, `-0:04:50`; a negative number cell
  in a workbook), a clock-skew glitch.
* `duplicate_call_id` - an exact re-send of an earlier, clean row of the same file, written
  a few rows later.
* `unknown_outcome_code` - an outcome code the partner YAML does not list (`XFER`, ...).
* `missing_key` - the call id is empty.

Some rows with a bad timestamp, a negative duration or an unknown code are *re-sent corrected*
later in the same file (a real export glitch too): the quarantined row must not claim the call
id, so the corrected copy is a valid call and the call is counted once.

Dirt is planned per partner from its own random stream (seed, partner code), after the
simulation: the simulated calls, and so every clean row, are exactly what they were without
dirt. A partner gets `round(rows / 5,000)` dirty rows, at least 2 but never more than one row in
1,000 (a partner with fewer than 2,000 rows may get none). Kinds are dealt from one sequence
shared by all partners (partner `i` starts at slot `2 i`), so every kind occurs at least twice
whenever the six sample partners each have 2,000 rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

from .local_time import DAY, EPOCH
from .simulation import MISSING, PHANTOM, TEST, CallTable, stable_code_hash
from .spec import PartnerSpec, TelephonyFormat

KINDS = (
    "bad_timestamp",
    "negative_duration",
    "duplicate_call_id",
    "unknown_outcome_code",
    "missing_key",
)
ROWS_PER_DIRTY_ROW = 5_000
MIN_PER_PARTNER = 2
MAX_SHARE = 1 / 1_000
RESENDABLE = ("bad_timestamp", "negative_duration", "unknown_outcome_code")
UNKNOWN_CODES = ("XFER", "CALLBACK", "VM", "TRANSFER")
MAX_GAP = 400  # a re-send is written 1..MAX_GAP rows after the original (end of file at most)
DIRT_TAG = 0xD1_27_5E_ED  # stream tag: dirt has its own random stream


@dataclass(frozen=True)
class DirtyRow:
    """One dirty row: `row` indexes the partner's calls in a plan, the file's rows in a job."""

    row: int
    kind: str
    variant: int = 0
    resend_gap: int = 0  # > 0: a clean copy of the original row follows this many rows later

    @property
    def inserts_row(self) -> bool:
        return self.kind == "duplicate_call_id" or self.resend_gap > 0


@dataclass(frozen=True)
class DirtPlan:
    rows: tuple[DirtyRow, ...] = ()  # sorted by row

    @property
    def inserted(self) -> int:
        """Rows added to the files (duplicates and corrected re-sends)."""
        return sum(d.inserts_row for d in self.rows)

    def counts(self) -> dict[str, int]:
        return {kind: sum(d.kind == kind for d in self.rows) for kind in KINDS}

    def slice(self, lo: int, hi: int) -> tuple[DirtyRow, ...]:
        """Dirty rows among calls lo..hi-1, renumbered from 0 (one file's rows)."""
        return tuple(
            DirtyRow(d.row - lo, d.kind, d.variant, d.resend_gap)
            for d in self.rows
            if lo <= d.row < hi
        )


def dirty_row_count(rows: int) -> int:
    return min(max(MIN_PER_PARTNER, int(rows / ROWS_PER_DIRTY_ROW + 0.5)), int(rows * MAX_SHARE))


def plan_dirt(spec: PartnerSpec, calls: CallTable, *, seed: int, partner_index: int) -> DirtPlan:
    """Which of the partner's calls are written dirty, and how (deterministic)."""
    count = dirty_row_count(len(calls))
    if count <= 0:
        return DirtPlan()
    rng = np.random.default_rng([seed, DIRT_TAG, stable_code_hash(spec.code)])
    everything = np.arange(len(calls))
    with_talk = np.flatnonzero((calls.talk != MISSING) & (calls.wrap != MISSING))
    test_records = np.flatnonzero((calls.outcome == TEST) | (calls.outcome == PHANTOM))
    taken: set[int] = set()
    planned = []
    for j in range(count):
        slot = 2 * partner_index + j
        kind = KINDS[slot % len(KINDS)]
        if kind == "negative_duration":
            pool = with_talk
        elif kind == "bad_timestamp" and slot % 3 == 0 and test_records.size:
            pool = test_records  # a test call with a bad timestamp is quarantined, not excluded
        else:
            pool = everything
        row = _pick(rng, pool, taken)
        if row is None:
            continue
        taken.add(row)
        gap = int(rng.integers(1, MAX_GAP + 1))
        resend = kind == "duplicate_call_id" or (kind in RESENDABLE and slot % 2 == 1)
        planned.append(DirtyRow(row, kind, slot // len(KINDS), gap if resend else 0))
    return DirtPlan(tuple(sorted(planned, key=lambda d: d.row)))


def _pick(rng: np.random.Generator, pool: np.ndarray, taken: set[int]) -> int | None:
    for _ in range(100):
        if pool.size == 0:
            return None
        row = int(pool[rng.integers(pool.size)])
        if row not in taken:
            return row
    return None


# ---------------------------------------------------------------- dirty values


def bad_timestamp_text(timestamp_format: str, variant: int, year: int) -> str:
    """A start time in the partner's layout that is impossible, zero, or the 1970 epoch."""
    style = variant % 3
    if style == 2:
        return EPOCH.strftime(timestamp_format)  # unset clock: parses, outside the calendar
    values = (
        {"Y": f"{year:04d}", "y": f"{year % 100:02d}", "m": "02", "d": "31", "H": "25",
         "M": "61", "S": "00"}
        if style == 0
        else {"Y": "0000", "y": "00", "m": "00", "d": "00", "H": "00", "M": "00", "S": "00"}
    )  # fmt: skip
    directives = re.findall(r"%(.)", timestamp_format)
    if not set(directives) <= set(values) | {"%"}:
        return "#VALUE!"
    return re.sub(r"%(.)", lambda m: values.get(m.group(1), "%"), timestamp_format)


def unknown_outcome_code(telephony: TelephonyFormat, variant: int) -> str:
    """A plausible code the partner does not list (compared case-insensitively)."""
    known = {code.casefold() for code in telephony.all_outcome_codes}
    codes = [code for code in UNKNOWN_CODES if code.casefold() not in known]
    return codes[variant % len(codes)]


def apply_dirt(
    telephony: TelephonyFormat,
    columns: list[list],
    calls: CallTable,
    dirt: tuple[DirtyRow, ...],
    *,
    xlsx: bool,
) -> list[list]:
    """The file's columns (in file order, one list per column) with its dirty rows applied.

    Values are changed in place; duplicates and corrected re-sends are clean copies of the
    original row inserted `resend_gap` rows later (at the end when the file is shorter).
    """
    if not dirt:
        return columns
    position = {field: i for i, (field, _) in enumerate(telephony.columns)}
    n_rows = len(columns[0]) if columns else 0
    copies: list[tuple[int, int, list]] = []
    for order, d in enumerate(dirt):
        if d.inserts_row:
            original = [column[d.row] for column in columns]
            copies.append((min(d.row + d.resend_gap, n_rows), order, original))
        r = d.row
        if d.kind == "bad_timestamp":
            year = (EPOCH + dt.timedelta(days=int(calls.local_seconds[r] // DAY))).year
            text = bad_timestamp_text(telephony.timestamp_format, d.variant, year)
            columns[position["started_at"]][r] = text  # text even in a workbook
        elif d.kind == "negative_duration":
            field = ("talk", "wrap")[d.variant % 2]
            if field not in position:
                field = next(f for f in ("talk", "wrap", "wait") if f in position)
            column = columns[position[field]]
            column[r] = -column[r] if xlsx else f"-{column[r]}"
        elif d.kind == "unknown_outcome_code":
            columns[position["outcome"]][r] = unknown_outcome_code(telephony, d.variant)
        elif d.kind == "missing_key":
            columns[position["call_id"]][r] = None if xlsx else ""
    for at, _, values in sorted(copies, key=lambda c: (c[0], c[1]), reverse=True):
        for column, value in zip(columns, values, strict=True):
            column.insert(at, value)
    return columns
