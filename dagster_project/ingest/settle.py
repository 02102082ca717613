"""Quiet periods: a landing file is loaded only once it is complete.

A partner's file may still be being copied into the landing folder when a build looks at it.
It counts as complete when its size and modification time have not changed for the settle
interval (`HUB_SETTLE_SECONDS`, default 60 s: any change of size or content moves the
modification time, so a file last modified that long ago has been stable that long), or, for a
source whose YAML sets `done_marker: true`, when `<file>.done` exists beside it and is not
older than the file (the partner writes it once the file is whole; settle time is then not
used). A file not yet complete is `waiting`: neither loaded nor rejected, and looked at again
by the next build. The loader also compares each file's size and modification time after
reading it with those seen before: a file that changed meanwhile waits too.
(docs/architecture.md, "Delivery rules".) No Dagster imports.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

DEFAULT_SETTLE_SECONDS = 60.0
SETTLE_VAR = "HUB_SETTLE_SECONDS"
MARKER_SUFFIX = ".done"


def settle_seconds() -> float:
    """The settle interval from `HUB_SETTLE_SECONDS` (seconds, >= 0), default 60."""
    value = os.environ.get(SETTLE_VAR, "").strip()
    if not value:
        return DEFAULT_SETTLE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{SETTLE_VAR}={value!r}: expected a number of seconds") from None
    if seconds < 0 or seconds != seconds:  # negative or NaN
        raise ValueError(f"{SETTLE_VAR}={value!r}: expected a number of seconds >= 0")
    return seconds


def marker_of(path: Path) -> Path:
    """The `.done` marker of a landing file: `<file name>.done` in the same folder."""
    return path.with_name(path.name + MARKER_SUFFIX)


def is_marker(path: Path) -> bool:
    """A `.done` marker beside its file (never a delivery itself)."""
    return (path.name.endswith(MARKER_SUFFIX) and len(path.name) > len(MARKER_SUFFIX)
            and path.with_name(path.name[:-len(MARKER_SUFFIX)]).exists())


def waiting_reason(path: Path, source: str, done_marker: bool, settle: float,
                   now: float | None = None) -> str | None:
    """Why the file is not complete yet, or None when it may be loaded. Reads metadata only
    (lstat: a marker that is a link does not count), never the file's content."""
    st = path.lstat()
    if done_marker:
        marker = marker_of(path)
        try:
            mst = marker.lstat()
        except FileNotFoundError:
            return (f"waiting for its marker {marker.name} (sources.{source}.done_marker: "
                    f"the file is loaded once the partner writes the marker)")
        if not stat.S_ISREG(mst.st_mode):
            return f"waiting: its marker {marker.name} is not a regular file"
        if mst.st_mtime_ns < st.st_mtime_ns:
            return (f"waiting: its marker {marker.name} is older than the file (the marker of "
                    f"an earlier delivery?); the file is loaded once a new marker is written")
        return None
    age = (time.time() if now is None else now) - st.st_mtime
    if settle > 0 and age < settle:
        return (f"waiting: modified {max(age, 0.0):.0f} s ago; a file is loaded once its size "
                f"and modification time have been stable for {settle:g} s ({SETTLE_VAR}), "
                f"so that a file still being copied is never loaded half-written")
    return None
