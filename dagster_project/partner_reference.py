"""Check a partner's code targets against the reference seeds (`seeds/reference/*.csv`)
before anything loads: a service line, channel or avoidable category the seeds do not know
would otherwise pass the load and fail a dbt relationships test minutes later, naming neither
the YAML file nor the key. No Dagster imports."""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_project.partner_schema import EXCLUDED, PartnerConfigError

if TYPE_CHECKING:
    from dagster_project.partners import PartnerConfig

# (seed file, its code column): the values a target may take
SERVICE_LINES = ("service_lines.csv", "service_line_code")
CHANNELS = ("channels.csv", "channel_code")
AVOIDABLE = ("avoidable_categories.csv", "avoidable_category")


@functools.lru_cache(maxsize=16)
def _codes(reference_dir: Path, seed: tuple[str, str], mtime_ns: int) -> tuple[str, ...]:
    del mtime_ns  # part of the cache key only
    with (reference_dir / seed[0]).open(encoding="utf-8", newline="") as handle:
        return tuple(row[seed[1]] for row in csv.DictReader(handle))


def reference_codes(reference_dir: Path, seed: tuple[str, str]) -> tuple[str, ...]:
    return _codes(reference_dir, seed, (reference_dir / seed[0]).stat().st_mtime_ns)


def _targets(partner: PartnerConfig):
    """(YAML key, partner value, target, seed, extra allowed targets) per code target."""
    for name, source in partner.sources.items():
        for queue, line in source.queues.items():
            yield f"sources.{name}.queues.{queue}", line, SERVICE_LINES, ()
        for service, line in source.services.items():
            yield f"sources.{name}.services.{service}", line, SERVICE_LINES, (EXCLUDED,)
        for code, channel in source.field_codes.get("channel", {}).items():
            yield f"sources.{name}.codes.channel.{code}", channel, CHANNELS, (EXCLUDED,)
        for code, reason in source.field_codes.get("avoidable_reason", {}).items():
            yield (f"sources.{name}.codes.avoidable_reason.{code}", reason, AVOIDABLE,
                   ("none", EXCLUDED))


def check_reference_targets(partner: PartnerConfig, reference_dir: Path) -> None:
    """Raise PartnerConfigError listing every target the reference seeds do not know."""
    problems = []
    for key, target, seed, extra in _targets(partner):
        allowed = (*reference_codes(reference_dir, seed), *extra)
        if target not in allowed:
            problems.append(f"{key}: '{target}' is not in seeds/reference/{seed[0]} "
                            f"(allowed: {', '.join(allowed)})")
    if problems:
        raise PartnerConfigError(f"{partner.path}: {len(problems)} problem(s):\n  "
                                 + "\n  ".join(problems))
