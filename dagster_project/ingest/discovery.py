"""Find landing files and work out which partner, source and delivery each belongs to.

Delivery rules (docs/architecture.md, "Delivery rules"):
- a delivery is a regular file directly in `<landing>/<partner>/<source>/`; its delivery key
  is the period the source's `period_pattern` extracts from the file name, or without one its
  path relative to the source folder (never a bare name taken from deeper down);
- subfolders of a source folder (`superseded/`, `archive/`, ...) are ignored by rule: nothing
  in them is read, so an older copy kept there can never replace the current delivery;
- symbolic links (to a partner folder, a source folder or a file) are never followed: they are
  rejected unread, and no path resolving outside the landing folder is read;
- two files claiming one delivery key are both rejected (neither replaces the other, so loads
  never flip between them) until one remains.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dagster_project.ingest.settle import is_marker
from dagster_project.partners import PartnerConfig


@dataclass(frozen=True)
class LandingFile:
    partner_code: str
    source: str
    path: Path
    rel_path: str
    delivery_key: str
    period_month: dt.date | None
    size: int = -1  # size and modification time (ns) when discovered: the loader compares
    mtime_ns: int = -1  # them after reading, so that a file changing meanwhile is not loaded


@dataclass(frozen=True)
class LandingProblem:
    """A landing file or folder that cannot be loaded (`rejected`), or a subfolder that is not
    read (`ignored`), with the reason."""

    rel_path: str
    partner_code: str | None
    source: str | None
    message: str
    status: str = "rejected"  # rejected | ignored


def _period(pattern, name: str) -> tuple[str, dt.date] | None:
    match = pattern.search(name)
    if not match:
        return None
    groups = match.groupdict()
    year, month = int(groups["year"]), int(groups["month"])
    try:
        if groups.get("day"):
            day = dt.date(year, month, int(groups["day"]))
            return day.isoformat(), day.replace(day=1)
        return f"{year:04d}-{month:02d}", dt.date(year, month, 1)
    except ValueError:
        return None


def _entries(folder: Path) -> list[os.DirEntry]:
    """The folder's entries, hidden ones (starting with '.') left out: partners may upload
    under a temporary name."""
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


LINK = "a symbolic link: links are never followed (copy the file into the landing folder)"


def _inside(path: Path, root: Path) -> bool:
    """Whether `path` resolves inside the landing folder `root` (already resolved)."""
    return path.resolve().is_relative_to(root)


def discover_files(landing_dir: Path, partners: dict[str, PartnerConfig],
                   source: str) -> tuple[list[LandingFile], list[LandingProblem]]:
    """Every loadable file of `source` under `landing_dir`, and every problem found on the way
    (module docstring: the delivery rules)."""
    files: list[LandingFile] = []
    problems: list[LandingProblem] = []
    if not landing_dir.is_dir():
        return files, problems
    root = landing_dir.resolve()
    for folder in _entries(landing_dir):
        if folder.is_symlink():
            problems.append(LandingProblem(folder.name, None, None, f"{folder.name}: {LINK}"))
            continue
        if not folder.is_dir(follow_symlinks=False):
            problems.append(LandingProblem(folder.name, None, None,
                                           "file at the top of the landing folder: files go "
                                           "under <partner>/<source>/"))
            continue
        partner = partners.get(folder.name)
        if partner is None:
            problems.append(LandingProblem(
                folder.name, None, None,
                f"landing folder '{folder.name}' has no partner configuration "
                f"(expected seeds/partners/{folder.name}.yml); its files were not loaded"))
            continue
        cfg = partner.sources.get(source)
        source_dir = Path(folder.path) / source
        if cfg is None:
            continue
        if source_dir.is_symlink():
            rel = f"{partner.code}/{source}"
            problems.append(LandingProblem(rel, partner.code, source, f"{rel}: {LINK}"))
            continue
        if not source_dir.is_dir():
            continue
        found: list[LandingFile] = []
        for entry in _entries(source_dir):
            path = Path(entry.path)
            rel = path.relative_to(landing_dir).as_posix()
            if entry.is_symlink():
                problems.append(LandingProblem(rel, partner.code, source, f"{rel}: {LINK}"))
                continue
            if entry.is_dir(follow_symlinks=False):
                problems.append(LandingProblem(
                    rel + "/", partner.code, source,
                    f"{rel}/: subfolder ignored: only files directly in "
                    f"{partner.code}/{source}/ are deliveries (an older copy kept in a "
                    f"subfolder never replaces the current delivery)", "ignored"))
                continue
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or not _inside(path, root):
                problems.append(LandingProblem(rel, partner.code, source,
                                               f"{rel}: not a regular file; not read"))
                continue
            if is_marker(path):
                continue
            if not fnmatch.fnmatch(path.name, cfg.files):
                problems.append(LandingProblem(rel, partner.code, source,
                                               f"{rel}: file name does not match the configured "
                                               f"pattern '{cfg.files}'; not loaded"))
                continue
            if cfg.period_pattern is None:
                key, month = path.relative_to(source_dir).as_posix(), None
            else:
                period = _period(cfg.period_pattern, path.name)
                if period is None:
                    problems.append(LandingProblem(
                        rel, partner.code, source,
                        f"{rel}: file name does not match period_pattern "
                        f"'{cfg.period_pattern.pattern}' (or names an impossible date); "
                        f"not loaded"))
                    continue
                key, month = period
            found.append(LandingFile(partner.code, source, path, rel, key, month,
                                     st.st_size, st.st_mtime_ns))
        kept, clashes = _one_file_per_key(found)
        files.extend(kept)
        problems.extend(clashes)
    return files, problems


def _one_file_per_key(found: list[LandingFile]) -> tuple[list[LandingFile], list[LandingProblem]]:
    """Files of one partner-source whose delivery key no other file claims, and a problem for
    each file of a key claimed by several: none of them is loaded (which one is the delivery
    is for the partner to say), so loads never flip between two copies."""
    by_key: dict[str, list[LandingFile]] = {}
    for f in found:
        by_key.setdefault(f.delivery_key, []).append(f)
    kept = [f for f in found if len(by_key[f.delivery_key]) == 1]
    clashes = [
        LandingProblem(f.rel_path, f.partner_code, f.source,
                       f"{f.rel_path}: delivery key '{f.delivery_key}' is claimed by "
                       f"{len(group)} files ({', '.join(g.path.name for g in group)}); none of "
                       f"them is loaded until only one remains")
        for group in by_key.values() if len(group) > 1 for f in group]
    return kept, clashes
