"""A month's board packs change all at once: `<reports dir>/YYYY-MM` is a relative symbolic link
to one complete set of packs, and a new set replaces it in a single rename.

    with replacing_month(reports_dir, month) as folder:   # a new, private folder
        ...write every file into `folder`...
    # here <reports dir>/YYYY-MM shows the new set; the set it showed before is removed

The sets live in `<reports dir>/.packs/YYYY-MM/<set>/`. A writer that fails or is stopped
midway (Terminate in the Dagster UI, Ctrl-C on `hub report`, a killed process) leaves the
month as it was: the board never reads a hub pack from one publication beside partner packs
from another. What such a writer left is removed by the next writer of that month.

Writers of the same month take turns (`fcntl.flock` on `.packs/YYYY-MM.lock`, released by the
kernel if the holder dies): the board pack sensor's run and a `hub report` never mix their
files, and the last to finish is what the month shows. A reader that opened a file of the set
just replaced keeps reading it whole (the file is unlinked, not rewritten).

With `keep_others`, the new set starts with the files the month shows now (hard links, or
copies where the file system has none): `hub report --partner CODE` replaces that partner's
pack and leaves the others as they were. A month folder of the layout before this one (a plain
folder) is moved into `.packs/` on its first replacement. Plain Python: no Dagster imports."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from dagster_project.stop_request import raise_if_interrupted

SETS = ".packs"


def month_link(reports_dir: Path, month: dt.date) -> Path:
    """What readers open: `<reports dir>/YYYY-MM`."""
    return reports_dir / f"{month:%Y-%m}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _carry_over(current: Path, new: Path) -> None:
    for path in current.iterdir():
        if path.is_file():
            try:
                os.link(path, new / path.name)
            except OSError:  # no hard links here (or across devices): a copy
                shutil.copy2(path, new / path.name)


def _switch(link: Path, sets: Path, new: Path) -> None:
    """Point `link` at `new` in one rename (a plain folder there first moves into `sets`)."""
    if link.is_dir() and not link.is_symlink():
        link.rename(sets / f"before-{uuid.uuid4().hex[:8]}")
    pending = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.link")
    os.symlink(os.path.relpath(new, link.parent), pending)
    try:
        os.replace(pending, link)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    _fsync(link.parent)


def _shown_set(link: Path, sets: Path) -> str | None:
    """The name of the set in `sets` the month's link points at, if any (by name: the reports
    folder may itself be reached through a symbolic link)."""
    if not link.is_symlink():
        return None
    target = Path(os.readlink(link))
    return target.name if target.parent.name == sets.name else None


def _remove_all_but(sets: Path, keep: str | None) -> None:
    for path in sets.iterdir():
        if path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def replacing_month(reports_dir: Path, month: dt.date, keep_others: bool = False
                    ) -> Iterator[Path]:
    """Yield a new folder for `month`'s packs; once the block ends without an error, it is
    what `<reports dir>/YYYY-MM` shows. On an error (or an interrupt) it is removed and the
    month shows what it showed before. A file carried over (`keep_others`) is a hard link to
    the one readers see now: replace it (a new file, then a rename), never rewrite it."""
    link = month_link(reports_dir, month)
    sets = reports_dir / SETS / f"{month:%Y-%m}"
    sets.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(sets.with_name(f"{month:%Y-%m}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # a writer of the same month finishes first
        _remove_all_but(sets, _shown_set(link, sets))  # what stopped writers left
        new = sets / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        new.mkdir()
        try:
            if keep_others and link.is_dir():
                _carry_over(link, new)
            yield new
            for path in new.iterdir():
                _fsync(path)
            _fsync(new)
            raise_if_interrupted()  # a SIGTERM whose own KeyboardInterrupt Python lost
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        # stopped before the rename, the new set is a leftover for the next writer; after it,
        # the new set is what the month shows
        _switch(link, sets, new)
        _remove_all_but(sets, new.name)
    finally:
        os.close(lock_fd)  # releases the flock
