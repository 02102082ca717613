"""The separate direct-dial extract recomputed in plain Python from the landing files
(docs/kpi-definitions.md, "A separate direct-dial extract"), for tests/reference_kpis.py's
csc_call_share_pct: no DuckDB, dbt or project reader; the partner YAML's `sources.direct_dial`
parsed with pyyaml, files with the `csv` module (tests.reference_kpis.read_table).

Every data row ends up in one place: rejected (cannot be split into the header's columns),
quarantined under the first failing check (missing_key, control_character, bad_timestamp,
timestamp_out_of_range, duplicate_call_id), excluded (excluded_service; already_delivered: the
same id, start and service as an earlier row of another delivery), or a valid call counted in
the local month of its start. The months delivered are each loaded file's period (a file whose
every line was rejected delivers nothing), else the months of its rows' start times, and the
months of the valid calls.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.fast_strptime import strptime
from tests.reference_kpis import (
    CONTROL_RE,
    _column_getters,
    _delivery_key,
    load_sanity_window,
    read_table,
)

FIELDS = ("call_id", "started_at", "extension", "service")


@dataclass
class Extract:
    lines: int = 0
    rejected: int = 0
    quarantined: Counter = field(default_factory=Counter)
    excluded: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)  # local month -> valid calls
    delivered: set[dt.date] = field(default_factory=set)  # months delivered

    @property
    def valid(self) -> int:
        return sum(self.calls.values())


def _period_month(name: str, pattern: str | None) -> dt.date | None:
    key = _delivery_key(name, pattern)
    if pattern and len(key) >= 7 and key[4] == "-":
        return dt.date(int(key[:4]), int(key[5:7]), 1)
    return None


def read_extract(landing_dir: Path, code: str, timezone: str, src: dict) -> Extract:
    """The partner's extract (`src`: its YAML `sources.direct_dial` block as written)."""
    out = Extract()
    folder = landing_dir / code / "direct_dial"
    if not folder.is_dir():
        return out
    paths = sorted((p for p in folder.glob(str(src.get("files", "*")))
                    if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.relative_to(folder).as_posix())
    fmt = src.get("format") or {}
    ts_format = str(src["timestamp_format"])
    utc = src.get("timestamp_zone", "local") == "utc"
    zone = ZoneInfo(timezone)
    services = {str(k): str(v) for k, v in (src.get("services") or {}).items()}
    window = load_sanity_window()
    claimed: dict[str, tuple[str, tuple]] = {}  # id -> (delivery key, values) of the first
    for path in paths:
        header, rows = read_table(path, fmt)
        getters = _column_getters(src["columns"], header, path)
        key = _delivery_key(path.name, src.get("period_pattern"))
        period = _period_month(path.name, src.get("period_pattern"))
        out.lines += len(rows)
        loaded = 0
        for row in rows:
            if fmt.get("type", "csv") == "csv" and len(row) != len(header):
                out.rejected += 1
                continue
            loaded += 1
            values = {f: getters[f](row) if f in getters else None for f in FIELDS}
            call_id = (values["call_id"] or "").strip()
            started = (values["started_at"] or "").strip()
            service = (values["service"] or "").strip() or None
            local, reason = None, None
            if not call_id or not started:
                reason = "missing_key"
            elif any(CONTROL_RE.search(v.strip(" ")) for f, v in values.items()
                     if v is not None and f != "extension"):
                reason = "control_character"
            else:
                try:
                    local = strptime(started, ts_format)
                except ValueError:
                    reason = "bad_timestamp"
                else:
                    if utc:
                        local = local.replace(tzinfo=dt.UTC).astimezone(zone).replace(
                            tzinfo=None)
                    if not window[0] <= local <= window[1]:
                        reason, local = "timestamp_out_of_range", None
            if period is None and local is not None:
                out.delivered.add(local.date().replace(day=1))
            if reason is None and call_id in claimed:
                first_key, first_seen = claimed[call_id]
                if first_key != key and first_seen == (local, service):
                    out.excluded["already_delivered"] += 1
                    continue
                reason = "duplicate_call_id"
            if reason is not None:
                out.quarantined[reason] += 1
                continue
            claimed[call_id] = (key, (local, service))
            if services.get(service or "") == "excluded":
                out.excluded["excluded_service"] += 1
                continue
            assert local is not None
            out.calls[local.date().replace(day=1)] += 1
        if period is not None and (loaded or not rows):
            out.delivered.add(period)
    out.delivered |= set(out.calls)
    return out
