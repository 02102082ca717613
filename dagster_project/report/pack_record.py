"""The record a month's board packs leave in their folder (`pack.json`): the publication they
were read from and their files. The board pack sensor reads it so that it does not write the
month's packs again from the publication they were already written from (`hub report` after
`hub build`, the UI started again over the same warehouse). Light: no charts, no matplotlib."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

from dagster_project.report.pack_data import published_at

PACK_RECORD = "pack.json"


def record_text(published: dt.datetime, files: Iterable[Path]) -> str:
    return json.dumps({"published_at": published.isoformat(),
                       "files": sorted(p.name for p in files)}, indent=2)


def written_from_served(serving_db: Path, reports_dir: Path, month: dt.date) -> bool:
    """True when every pack of `month` was written from the publication served now: the
    record is there, names that publication, and each file it names exists."""
    folder = reports_dir / f"{month:%Y-%m}"
    try:
        record = json.loads((folder / PACK_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = record.get("files") if isinstance(record, dict) else None
    return (isinstance(files, list) and bool(files)
            and record.get("published_at") == published_at(serving_db).isoformat()
            and all((folder / str(name)).is_file() for name in files))
