"""Sample direct-dial extract files (docs/kpi-definitions.md, "A separate direct-dial
extract"), for a partner whose YAML declares `sources.direct_dial` and maps no telephony code
to `direct_dial`: the simulation's direct-dial calls (answered by officers on their own lines,
`generator.direct_dial_share` of the calls in opening hours) are written to the extract
instead of the telephony files, one file per month in the source's declared format, named
from its `period_pattern`. Each row: the switchboard's call id, the start time, the officer's
extension and the department (the call's queue name, mapped by the YAML's `services`). With
dirt, one row in about 400 (files of 100 rows or more) is written to be quarantined,
alternately without its id and with a time that does not parse.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from .service_standards import _format, _month_slices, _Partner, _stamps, _write
from .simulation import CallTable
from .writers import period_file_name

BAD_TIME = "not a time"


def write_direct_dial_files(
    path: Path, calls: CallTable, landing_dir: Path, month_starts: list[tuple[int, int, int]],
    run_end: int, seed: int, with_dirt: bool = True,
) -> tuple[int, int]:
    """Write the partner's direct-dial extract from its direct-dial calls (sorted by start);
    returns (files, rows)."""
    p = _Partner(path, seed, with_dirt)
    cfg = p.config.sources["direct_dial"]
    fmt = _format(cfg)
    code = p.config.code
    at = calls.local_seconds
    extensions = 4000 + p.rng.integers(0, 900, len(calls))
    files = rows = 0
    for year, month, lo, hi in _month_slices(at, month_starts, run_end):
        n = hi - lo
        ids = [f"SB{year % 100:02d}{month:02d}-{i + 1:06d}" for i in range(n)]
        started = _stamps(at[lo:hi], cfg, p.zone)
        for k, i in enumerate(p.dirt_rows(n).tolist()):
            if k % 2 == 0:
                ids[i] = None  # missing_key
            else:
                started[i] = BAD_TIME  # bad_timestamp
        columns = {"call_id": ids, "started_at": started,
                   "extension": [str(e) for e in extensions[lo:hi].tolist()],
                   "service": [calls.queue_names[q] for q in calls.queue[lo:hi].tolist()]}
        columns = {name: columns[name] for name in cfg.columns if name in columns}
        name = period_file_name(fmt, code, year, month)  # type: ignore[arg-type]
        saved_at = dt.datetime(year + month // 12, month % 12 + 1, 1, 6)  # month end
        _write(landing_dir / code / "direct_dial" / name, fmt, columns, p.config.name, saved_at)
        files, rows = files + 1, rows + n
    return files, rows


def split_direct_dials(calls: CallTable, direct_dial: int) -> tuple[CallTable, CallTable]:
    """(the calls reaching the centre's telephony, the direct-dial calls), in call order."""
    is_direct = calls.outcome == direct_dial
    return calls.take(np.flatnonzero(~is_direct)), calls.take(np.flatnonzero(is_direct))
