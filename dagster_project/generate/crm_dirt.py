"""Dirt in the CRM files, deterministic, of two sorts.

**KPI dirt** stays in the data and is what the CRM KPIs must cope with (about 1-4 % of rows):

* `duplicate_case` - the same customer, service and channel logged again 1-25 minutes later
  under a new enquiry id (`is_duplicate_case`);
* `name_variant` - the same person spelt differently: upper/lower case, extra spaces,
  "SURNAME, Forename", a title ("Mrs Ava Khan"), or a typo in the forename (that row always
  gives the person's phone and email, so identity still links it);
* `invalid_phone` ("0770 123", "n/a", "+44 12") and `invalid_postcode` ("AB1", "UNKNOWN") -
  counted by `data_accuracy_pct`.

**Quarantine dirt**, about one row in 2,000 (at least one of each kind per partner), each kind
named after the quarantine reason it should get (docs/crm.md): `missing_key` (no enquiry id),
`bad_timestamp` (impossible created time in the partner's layout), `unknown_code` (a channel
code the partner does not list), `bad_satisfaction` (7), `resolved_before_created`,
`duplicate_enquiry_id` (a row re-sent later in the file with the same enquiry id) and, for a
JSON-lines partner only, `malformed_line` (a line cut short: rejected, not quarantined).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from .crm import NONE, ContactTable
from .crm_spec import CrmFormat
from .dirt import DirtyRow, bad_timestamp_text
from .local_time import DAY, EPOCH
from .simulation import stable_code_hash

KPI_KINDS = ("duplicate_case", "name_variant", "invalid_phone", "invalid_postcode")
QUARANTINE_KINDS = (
    "missing_key",
    "bad_timestamp",
    "unknown_code",
    "bad_satisfaction",
    "resolved_before_created",
    "duplicate_enquiry_id",
    "malformed_line",
)
DUPLICATE_SHARE, NAME_VARIANT_SHARE = 0.012, 0.04
INVALID_PHONE_SHARE, INVALID_POSTCODE_SHARE = 0.006, 0.006
INVALID_PHONES = ("0770 123", "n/a", "+44 12")
INVALID_POSTCODES = ("AB1", "UNKNOWN")
NAME_VARIANTS = 5  # case, spaces, "SURNAME, Forename", title, forename typo
UNKNOWN_CHANNELS = ("FAX", "SMS", "Webchat", "KIOSK")
ROWS_PER_DIRTY_ROW = 2_000
MAX_GAP = 300
KPI_TAG, QUARANTINE_TAG = 0xC2_3D_17_01, 0xC2_3D_17_02


def add_kpi_dirt(
    table: ContactTable, *, seed: int, code: str, end: int
) -> tuple[ContactTable, dict[str, int]]:
    """Duplicate cases (new rows), name variants, invalid phones and postcodes."""
    rng = np.random.default_rng([seed, KPI_TAG, stable_code_hash(code)])
    n = len(table)
    known = table.person != NONE
    name_variant = np.where(
        known & (rng.random(n) < NAME_VARIANT_SHARE), rng.integers(1, NAME_VARIANTS + 1, n), 0
    ).astype(np.int8)
    typo = name_variant == NAME_VARIANTS
    gives_phone = table.gives_phone | typo
    gives_email = table.gives_email | typo
    bad_phone = np.where(
        known & gives_phone & ~typo & (rng.random(n) < INVALID_PHONE_SHARE),
        rng.integers(1, len(INVALID_PHONES) + 1, n), 0,
    ).astype(np.int8)  # fmt: skip
    bad_postcode = np.where(
        known & table.gives_postcode & (rng.random(n) < INVALID_POSTCODE_SHARE),
        rng.integers(1, len(INVALID_POSTCODES) + 1, n), 0,
    ).astype(np.int8)  # fmt: skip
    table = ContactTable(**{
        **table.__dict__, "name_variant": name_variant, "gives_phone": gives_phone,
        "gives_email": gives_email, "bad_phone": bad_phone, "bad_postcode": bad_postcode,
    })  # fmt: skip

    original = np.flatnonzero(known & (rng.random(n) < DUPLICATE_SHARE))
    shift = rng.integers(60, 25 * 60, original.size)
    keep = table.created[original] + shift < end
    original, shift = original[keep], shift[keep]
    copy = table.take(original)
    moved = {
        "created": copy.created + shift,
        "resolved": np.where(copy.resolved == NONE, NONE, copy.resolved + shift),
        "responded": np.full(original.size, NONE, dtype=np.int64),
        "feedback": np.full(original.size, NONE, dtype=np.int8),
        "satisfaction": np.zeros(original.size, dtype=np.int8),
        "is_repeat": np.zeros(original.size, dtype=bool),
        "duplicate_of": original.astype(np.int64),
    }
    copy = ContactTable(**{**copy.__dict__, **moved})
    merged = ContactTable(**{
        name: np.concatenate([getattr(table, name), getattr(copy, name)])
        for name in table.__dict__
    })  # fmt: skip
    merged = merged.take(np.argsort(merged.created, kind="stable"))
    counts = {
        "duplicate_case": int(original.size),
        "name_variant": int((name_variant > 0).sum()),
        "invalid_phone": int((bad_phone > 0).sum()),
        "invalid_postcode": int((bad_postcode > 0).sum()),
    }
    return merged, counts


def plan_quarantine_dirt(
    rows: int, fmt: CrmFormat, *, seed: int, code: str, partner_index: int
) -> tuple[DirtyRow, ...]:
    """Which rows (indices into the partner's sorted contacts) are written dirty, and how."""
    kinds = [k for k in QUARANTINE_KINDS if k != "malformed_line" or fmt.file_type == "jsonl"]
    fields = {field for field, _ in fmt.columns}
    kinds = [k for k in kinds if _has_fields(k, fields)]
    count = min(max(len(kinds), int(rows / ROWS_PER_DIRTY_ROW + 0.5)), rows // 50)
    if count <= 0:
        return ()
    rng = np.random.default_rng([seed, QUARANTINE_TAG, stable_code_hash(code)])
    chosen = rng.choice(rows, size=count, replace=False)
    planned = []
    for j, row in enumerate(chosen.tolist()):
        kind = kinds[(partner_index + j) % len(kinds)]
        gap = int(rng.integers(1, MAX_GAP + 1)) if kind == "duplicate_enquiry_id" else 0
        planned.append(DirtyRow(int(row), kind, j // len(kinds), gap))
    return tuple(sorted(planned, key=lambda d: d.row))


def _has_fields(kind: str, fields: set[str]) -> bool:
    needs = {"bad_satisfaction": "satisfaction", "resolved_before_created": "resolved_at"}
    return needs.get(kind, "enquiry_id") in fields


def quarantine_counts(dirt: tuple[DirtyRow, ...]) -> dict[str, int]:
    return {kind: sum(d.kind == kind for d in dirt) for kind in QUARANTINE_KINDS}


def apply_quarantine_dirt(
    fmt: CrmFormat,
    columns: dict[str, list],
    created: np.ndarray,
    dirt: tuple[DirtyRow, ...],
    format_time: Callable[[np.ndarray], np.ndarray],
) -> list[bool]:
    """Apply one file's dirty rows to its columns in place (rows renumbered from 0); returns
    per written row whether the line is to be written malformed (JSON lines)."""
    n_rows = len(created)
    malformed = [False] * n_rows
    copies: list[tuple[int, int, list]] = []
    names = list(columns)
    for order, d in enumerate(dirt):
        r = d.row
        if d.kind == "duplicate_enquiry_id":
            copies.append((min(r + d.resend_gap, n_rows), order, [columns[f][r] for f in names]))
        elif d.kind == "missing_key":
            columns["enquiry_id"][r] = None
        elif d.kind == "bad_timestamp":
            year = (EPOCH + dt.timedelta(days=int(created[r] // DAY))).year
            columns["created_at"][r] = bad_timestamp_text(fmt.timestamp_format, d.variant, year)
        elif d.kind == "unknown_code":
            known = {c.casefold() for c in fmt.all_codes.get("channel", ())}
            options = [c for c in UNKNOWN_CHANNELS if c.casefold() not in known]
            columns["channel"][r] = options[d.variant % len(options)]
        elif d.kind == "bad_satisfaction":
            columns["satisfaction"][r] = "7"
        elif d.kind == "resolved_before_created":
            earlier = np.array([created[r] - 3600 * (1 + d.variant % 30)], dtype=np.int64)
            columns["resolved_at"][r] = format_time(earlier)[0]
        elif d.kind == "malformed_line":
            malformed[r] = True
    for at, _, values in sorted(copies, key=lambda c: (c[0], c[1]), reverse=True):
        for name, value in zip(names, values, strict=True):
            columns[name].insert(at, value)
        malformed.insert(at, False)
    return malformed
