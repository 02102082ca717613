"""Find landing files and work out which partner, source and delivery each belongs to."""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path

from dagster_project.partners import PartnerConfig


@dataclass(frozen=True)
class LandingFile:
    partner_code: str
    source: str
    path: Path
    rel_path: str
    delivery_key: str
    period_month: dt.date | None


@dataclass(frozen=True)
class LandingProblem:
    """A landing file or folder that cannot be loaded, with the reason."""

    rel_path: str
    partner_code: str | None
    source: str | None
    message: str


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


def discover_files(landing_dir: Path, partners: dict[str, PartnerConfig],
                   source: str) -> tuple[list[LandingFile], list[LandingProblem]]:
    """Every loadable file of `source` under `landing_dir`, and every problem found on the way.

    Hidden files (starting with '.') are ignored: partners may upload under a temporary name.
    """
    files: list[LandingFile] = []
    problems: list[LandingProblem] = []
    if not landing_dir.exists():
        return files, problems
    for folder in sorted(p for p in landing_dir.iterdir() if not p.name.startswith(".")):
        if not folder.is_dir():
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
        source_dir = folder / source
        if cfg is None or not source_dir.is_dir():
            continue
        for path in sorted(p for p in source_dir.rglob("*") if p.is_file()):
            if path.name.startswith("."):
                continue
            rel = path.relative_to(landing_dir).as_posix()
            if not fnmatch.fnmatch(path.name, cfg.files):
                problems.append(LandingProblem(rel, partner.code, source,
                                               f"{rel}: file name does not match the configured "
                                               f"pattern '{cfg.files}'; not loaded"))
                continue
            if cfg.period_pattern is None:
                key, month = path.name, None
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
            files.append(LandingFile(partner.code, source, path, rel, key, month))
    return files, problems
