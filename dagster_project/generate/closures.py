"""When each partner is open: opening hours by weekday, closed on bank holidays.

Bank holidays come from the committed `seeds/reference/uk_bank_holidays.csv` (the warehouse reads
the same file), never from the `holidays` package at run time.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .spec import PartnerSpec

BANK_HOLIDAYS_FILE = "uk_bank_holidays.csv"
REPO_REFERENCE_DIR = Path(__file__).resolve().parents[2] / "seeds" / "reference"


@dataclass(frozen=True)
class BankHolidays:
    dates: frozenset[dt.date]
    first_year: int
    last_year: int

    def check_covers(self, first: dt.date, last: dt.date) -> None:
        if first.year < self.first_year or last.year > self.last_year:
            raise ValueError(
                f"bank holiday calendar covers {self.first_year}-{self.last_year}; cannot "
                f"generate {first}..{last} (run dagster_project.generate.bank_holidays)"
            )


def bank_holidays_path(partners_dir: Path) -> Path:
    """`<partners_dir>/../reference/uk_bank_holidays.csv`, else the repository's copy."""
    beside = partners_dir.parent / "reference" / BANK_HOLIDAYS_FILE
    return beside if beside.exists() else REPO_REFERENCE_DIR / BANK_HOLIDAYS_FILE


def load_bank_holidays(path: Path) -> BankHolidays:
    with path.open(encoding="utf-8", newline="") as handle:
        dates = {dt.date.fromisoformat(row["holiday_date"]) for row in csv.DictReader(handle)}
    if not dates:
        raise ValueError(f"{path}: no bank holidays")
    return BankHolidays(frozenset(dates), min(dates).year, max(dates).year)


@dataclass(frozen=True)
class DayWindows:
    """Per generated day: open/close (seconds of local day; -1 when closed) and flags."""

    opens: np.ndarray  # int32
    closes: np.ndarray  # int32
    is_bank_holiday: np.ndarray  # bool

    @property
    def is_open(self) -> np.ndarray:
        return self.opens >= 0


def day_windows(spec: PartnerSpec, days: np.ndarray, holidays: BankHolidays) -> DayWindows:
    """Opening window of each day in `days` (datetime64[D]) for the partner."""
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    opens = np.full(len(days), -1, dtype=np.int32)
    closes = np.full(len(days), -1, dtype=np.int32)
    for day, (open_s, close_s) in spec.opening_hours.items():
        opens[weekday == day] = open_s
        closes[weekday == day] = close_s
    holiday_days = np.array(sorted(holidays.dates), dtype="datetime64[D]")
    is_holiday = np.isin(days, holiday_days)
    opens[is_holiday] = -1
    closes[is_holiday] = -1
    return DayWindows(opens, closes, is_holiday)
