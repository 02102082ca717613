"""Regenerate `seeds/reference/uk_bank_holidays.csv` (England & Wales bank holidays).

The CSV is a static, committed file: the sample generator and the warehouse both read it, so
they agree on closure days without depending on the `holidays` package at run time. Run this
only to extend or refresh the range::

    python -m dagster_project.generate.bank_holidays [output.csv]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

FIRST_YEAR = 2018
LAST_YEAR = 2030
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[2] / "seeds" / "reference" / "uk_bank_holidays.csv"
)


def england_and_wales_bank_holidays(
    first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR
) -> list[tuple[str, str]]:
    """(ISO date, name) for every England & Wales bank holiday in the years, sorted by date."""
    import holidays  # only needed when regenerating the CSV

    calendar = holidays.GB(subdiv="ENG", years=range(first_year, last_year + 1))
    return [(day.isoformat(), name) for day, name in sorted(calendar.items())]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["holiday_date", "holiday_name"])
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    output = Path(args[0]) if args else DEFAULT_OUTPUT
    rows = england_and_wales_bank_holidays()
    write_csv(output, rows)
    print(f"wrote {len(rows)} bank holidays ({FIRST_YEAR}-{LAST_YEAR}) to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
