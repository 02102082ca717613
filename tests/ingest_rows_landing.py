"""The two hand-made partners of tests/test_ingest_rows.py and their first deliveries: a
re-sending council (telephony and CRM) and a council switching its date format (telephony).
Files are written as delivered an hour ago (settled), and the shared first build
(tests/conftest.py, `small_partners`) loads them with tests/onboarding_landing.py's partners."""

from __future__ import annotations

import csv
import datetime as dt
import os
import time
from pathlib import Path

from tests.test_privacy_free_text import TYPED


def _partner_yml(code: str, name: str, telephony: str = "", other_sources: str = "") -> str:
    """A hand-made partner's YAML: weekday opening hours and a six-column telephony source
    (`telephony`: its further keys, indented under it)."""
    return f"""code: {code}
name: {name}
timezone: Europe/London
expects_deliveries: false
opening_hours: {{mon: ["08:00", "18:00"], tue: ["08:00", "18:00"], wed: ["08:00", "18:00"],
                thu: ["08:00", "18:00"], fri: ["08:00", "18:00"]}}
sources:
  telephony:
    files: "*.csv"
    columns: {{call_id: CallID, started_at: Start, outcome: Result, queue: Queue, wait: Wait,
              talk: Talk}}
    timestamp_format: "%Y-%m-%d %H:%M:%S"
    duration_format: seconds
    outcome_codes: {{ANS: answered, ABN: abandoned}}
    queues: {{"Council Tax": council_tax}}
{telephony}{other_sources}"""


RESENDER_YML = _partner_yml("resender", "Re-sending council", """\
    max_durations: {talk: 7200}
""", """\
  crm:
    files: "*.csv"
    columns: {enquiry_id: Ref, created_at: Created, channel: Channel, enquiry_type: Type,
              email: Email}
    timestamp_format: "%Y-%m-%d %H:%M:%S"
    codes:
      channel: {Phone: phone, Web: web}
""")

SWITCHER_YML = _partner_yml("switcher", "Switching council", """\
    period_pattern: 'switcher_(?P<year>\\d{4})_(?P<month>\\d{2})\\.csv$'
""")

HEADER = ["CallID", "Start", "Result", "Queue", "Wait", "Talk"]
NUL_QUEUE = "Council\x00Tax"


def calls(prefix: str, month: int, count: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> list[list]:
    """`count` answered calls in the first 20 days of 2024-`month`."""
    rows = []
    day = dt.datetime(2024, month, 1, 9, 0)
    for i in range(count):
        started = day + dt.timedelta(days=i % 20, minutes=7 * i)
        rows.append([f"{prefix}{i + 1:03d}", started.strftime(fmt), "ANS", "Council Tax",
                     str(10 + i % 30), str(100 + i)])
    return rows


def write(path: Path, rows: list[list], header: list[str] = HEADER) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


JANUARY = calls("R", 1, 40)
FEBRUARY = calls("F", 2, 200)
FEBRUARY[9][4] = "1000000000"  # F010: a billion-second wait
FEBRUARY[10][5] = "7201"  # F011: over the partner's talk bound (max_durations.talk 7200)
FEBRUARY[11][3] = NUL_QUEUE  # F012: a NUL inside the queue name
FEBRUARY[12][5] = "7200"  # F013: on the bound: valid
RESENT = [list(row) for row in JANUARY]
RESENT[2][5] = "999"  # R003 sent again with another talk time: a conflict
SWITCHED_FORMAT = "%d/%m/%Y %H:%M"
CRM_HEADER = ["Ref", "Created", "Channel", "Type", "Email"]


def enquiries(prefix: str, month: int, count: int) -> list[list]:
    return [[f"{prefix}{i + 1:03d}",
             (dt.datetime(2024, month, 1, 9) + dt.timedelta(days=i % 20, minutes=11 * i))
             .strftime("%Y-%m-%d %H:%M:%S"), "Phone" if i % 2 else "Web", "Bins",
             f"resident{i}@example.org"] for i in range(count)]


CRM_JANUARY = enquiries("E", 1, 20)
CRM_JANUARY[0][3] = TYPED  # E001: an e-mail address, a phone number and a postcode typed in
CRM_RESENT = [list(row) for row in CRM_JANUARY]
CRM_RESENT[2][3] = "Parking"  # E003 sent again with another type: a conflict
CRM_FEBRUARY = enquiries("G", 2, 100)
CRM_FEBRUARY[4][3] = "Bins\x00\tmissed"  # G005: control characters in the free text
# (not a line break: a quoted field spanning lines is a stray quote unless
# format.multiline_fields is set, docs/architecture.md "Line accounting")
CRM_FEBRUARY[5][2] = "Phone\x00"  # G006: a NUL in a coded field


SETTLE = "300"  # every build: a file modified in the last 5 minutes waits (case 6)


def delivered(path: Path, rows: list[list], header: list[str] = HEADER) -> Path:
    """Write a landing file delivered (last modified) an hour ago: settled."""
    write(path, rows, header)
    when = time.time() - 3600
    os.utime(path, (when, when))
    return path


def write_ingest_rows_landing(landing: Path, partners: Path) -> None:
    """The partners' YAML into `partners`, their January and February files into `landing`."""
    partners.mkdir(parents=True, exist_ok=True)
    (partners / "resender.yml").write_text(RESENDER_YML, encoding="utf-8")
    (partners / "switcher.yml").write_text(SWITCHER_YML, encoding="utf-8")
    resender, switcher = landing / "resender" / "telephony", landing / "switcher" / "telephony"
    delivered(resender / "calls_2024_01.csv", JANUARY)
    delivered(resender / "calls_2024_02.csv", FEBRUARY)
    crm = landing / "resender" / "crm"
    delivered(crm / "crm_2024_01.csv", CRM_JANUARY, CRM_HEADER)
    delivered(crm / "crm_2024_02.csv", CRM_FEBRUARY, CRM_HEADER)
    delivered(switcher / "switcher_2024_01.csv", calls("S1", 1, 30))
    delivered(switcher / "switcher_2024_02.csv", calls("S2", 2, 30))
