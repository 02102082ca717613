"""The last published versions of the served files, and `hub rollback` to the one before.

Each publication (dagster_project/publish.py) keeps its pair of files (warehouse.duckdb,
operations.duckdb) in `<serving folder>/published/<stamp>/` as hard links of the files it
swaps in: keeping a version costs no copy, and the served file stays a file of its own (the
next publication replaces the served name, not the inode the version holds). The newest
HUB_KEEP_PUBLISHED versions (default 3, the served one included) are kept; older ones are
deleted after each publication.

`hub rollback` serves again the newest kept version older than the one served now, swapped in
the same way as a publication (operations file first, then the served marts, each by
`os.replace`), under the writer lock, so a build cannot publish in the middle of it. The
working warehouse is not rolled back: the next build that changes something publishes from
it again (`hub build --full-refresh` republishes at once).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

FOLDER = "published"
DEFAULT_KEEP = 3
PARTIAL = ".partial-"


class RollbackError(RuntimeError):
    """Nothing to roll back to; the served files were left as they were."""


@dataclass(frozen=True)
class Version:
    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def serving(self) -> Path:
        return self.folder / "warehouse.duckdb"

    @property
    def operations(self) -> Path:
        return self.folder / "operations.duckdb"

    @property
    def published_at(self) -> str:
        try:
            info = json.loads((self.folder / "version.json").read_text(encoding="utf-8"))
            return info["published_at"]
        except (OSError, ValueError, KeyError):
            return self.name

    def describe(self) -> str:
        return f"the warehouse published {self.published_at} (version {self.name})"


def keep_count() -> int:
    try:
        return max(1, int(os.environ.get("HUB_KEEP_PUBLISHED", DEFAULT_KEEP)))
    except ValueError:
        return DEFAULT_KEEP


def versions_dir(serving_db: Path) -> Path:
    return serving_db.parent / FOLDER


def versions(serving_db: Path) -> list[Version]:
    """Kept versions, oldest first."""
    folder = versions_dir(serving_db)
    if not folder.is_dir():
        return []
    return [Version(p) for p in sorted(folder.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / "warehouse.duckdb").exists()]


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _copy_of(a: Path, b: Path) -> bool:
    """A copy that kept the modification time (a backup restored, `cp -a`, `shutil.copytree`):
    the hard link between a version and the served file does not survive those."""
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_size, sa.st_mtime_ns) == (sb.st_size, sb.st_mtime_ns)


def current(serving_db: Path) -> Version | None:
    """The kept version the served file is (the same inode, else a copy with the same size and
    modification time), None if it is none of them."""
    kept = versions(serving_db)
    for same in (_same, _copy_of):
        for version in reversed(kept):
            if same(version.serving, serving_db):
                return version
    return None


def _link(source: Path, target: Path) -> None:
    """Hard link (no copy), or a copy where the file system has none or crosses devices."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S-%f")


def start_version(serving_db: Path, operations_db: Path, serving_file: Path,
                  operations_file: Path) -> Path:
    """Before a publication swaps its files in: keep the served pair if no kept version holds
    it (served by a version of the hub that kept none: it stays reachable by `hub rollback`),
    then link the new pair into a partial version folder, made final by `finish_version`."""
    folder = versions_dir(serving_db)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{PARTIAL}*"):  # a publication killed before its swap
        shutil.rmtree(stale, ignore_errors=True)
    if serving_db.exists() and current(serving_db) is None:
        when = dt.datetime.fromtimestamp(serving_db.stat().st_mtime)
        kept = folder / _stamp(when)
        kept.mkdir(exist_ok=True)
        _link(serving_db, kept / "warehouse.duckdb")
        if operations_db.exists():
            _link(operations_db, kept / "operations.duckdb")
        _write_info(kept, when)
    now = dt.datetime.now()
    partial = folder / f"{PARTIAL}{_stamp(now)}"
    partial.mkdir()
    _link(serving_file, partial / "warehouse.duckdb")
    _link(operations_file, partial / "operations.duckdb")
    _write_info(partial, now)
    return partial


def _write_info(folder: Path, when: dt.datetime) -> None:
    info = {"published_at": when.astimezone().isoformat(sep=" ", timespec="seconds")}
    (folder / "version.json").write_text(json.dumps(info), encoding="utf-8")


def finish_version(serving_db: Path, partial: Path) -> Version:
    """The publication swapped its files in: its version is final; prune to keep_count()."""
    final = partial.with_name(partial.name.removeprefix(PARTIAL))
    partial.rename(final)
    prune(serving_db)
    return Version(final)


def prune(serving_db: Path, keep: int | None = None) -> list[Version]:
    """Delete the oldest versions beyond `keep` (never the served one); return those deleted."""
    keep = keep or keep_count()
    kept = versions(serving_db)
    served = current(serving_db)
    deleted = []
    for version in kept[:-keep] if len(kept) > keep else []:
        if served is not None and version.folder == served.folder:
            continue
        shutil.rmtree(version.folder, ignore_errors=True)
        deleted.append(version)
    return deleted


def swap_in(source: Path, target: Path) -> None:
    """Serve `source` (a kept file) as `target`, atomically: a link beside the target, then
    `os.replace`."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    _link(source, tmp)
    os.replace(tmp, target)


def rollback(serving_db: Path, operations_db: Path) -> tuple[Version, Version | None]:
    """Serve the newest kept version older than the served one; return (restored, replaced).
    The caller holds the writer lock."""
    kept = versions(serving_db)
    served = current(serving_db)
    if served is None:
        older = [v for v in kept if serving_db.exists()
                 and v.serving.stat().st_mtime <= serving_db.stat().st_mtime]
        if not older:
            raise RollbackError(f"{serving_db} is none of the {len(kept)} kept versions in "
                                f"{versions_dir(serving_db)} and none is older: nothing to "
                                "roll back to")
        target = older[-1]
    else:
        index = [v.folder for v in kept].index(served.folder)
        if index == 0:
            raise RollbackError(
                f"{served.describe()} is served and no earlier version is kept in "
                f"{versions_dir(serving_db)} (HUB_KEEP_PUBLISHED keeps {keep_count()})")
        target = kept[index - 1]
    if target.operations.exists():
        swap_in(target.operations, operations_db)
    swap_in(target.serving, serving_db)
    return target, served
