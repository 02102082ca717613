"""Two partners unlike the sample ones, onboarded by YAML alone (issue "Onboarding any real
export by configuration alone"), written under a folder for tests:

- `bankline`: a bank's call log from 1998, tab-separated, the date (month-first, two-digit
  year) and the time in separate columns, its own outcome and split names; one call dated
  1989 (timestamp_out_of_range) and one with an impossible date (bad_timestamp).
- `cityreq`: a US city's service-request CRM export from 2015, comma-separated with quoted
  fields, month-first 12-hour dates (`10/03/2015 01:15:00 PM`) but ISO closing dates (a
  per-column format), requests raised by staff or
  systems (`Internal`, `System Generated`: excluded, never quarantined), an unknown origin
  (unknown_code) and no resolution, satisfaction or complaint fields at all.

Rows are drawn from a seeded generator, so a test recomputes every figure independently from
the files (tests/reference_kpis.py, tests/reference_crm.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

BANKLINE_YML = r"""# A bank's call log, 1998 (tab-separated; date and time in separate columns).
code: bankline
name: Bankline call centre (1998)
kind: other
timezone: America/New_York
expects_deliveries: false
opening_hours:
  mon: ["00:00", "24:00"]
  tue: ["00:00", "24:00"]
  wed: ["00:00", "24:00"]
  thu: ["00:00", "24:00"]
  fri: ["00:00", "24:00"]
  sat: ["09:00", "13:00"]
  sun: closed
sources:
  telephony:
    files: "*.tsv"
    period_pattern: 'calls_(?P<year>\d{4})(?P<month>\d{2})\.tsv$'
    format: {type: csv, delimiter: "\t", encoding: utf-8, header: true}
    columns:
      call_id: CALLID
      started_at: {expr: "\"DATE\" || ' ' || \"TIME\""}
      outcome: STATUS
      queue: SPLIT
      wait: QTIME
      talk: TTIME
    timestamp_format: "%m/%d/%y %H:%M:%S"
    duration_format: seconds
    outcome_codes: {ANS: answered, ABN: abandoned, IVR: ivr_only}
    queues: {Retail: general, Loans: council_tax}
"""

CITYREQ_YML = r"""# A US city's service-request export, 2015 (month-first, 12-hour clock).
code: cityreq
name: City service requests (2015)
kind: other
timezone: America/Chicago
expects_deliveries: false
opening_hours:
  mon: ["08:00", "17:00"]
  tue: ["08:00", "17:00"]
  wed: ["08:00", "17:00"]
  thu: ["08:00", "17:00"]
  fri: ["08:00", "17:00"]
sources:
  crm:
    files: "*.csv"
    period_pattern: 'requests_(?P<year>\d{4})_(?P<month>\d{2})\.csv$'
    format: {type: csv, delimiter: ",", encoding: utf-8, header: true}
    columns:
      enquiry_id: SR Number
      created_at: Created Date
      channel: Origin
      service: Department
      resolved_at: Closed Date
    timestamp_format: "%m/%d/%Y %I:%M:%S %p"
    column_timestamp_formats: {resolved_at: "%Y-%m-%dT%H:%M"}
    codes:
      channel:
        Phone: phone
        Web Portal: web
        Email: email
        Walk In: face_to_face
        Internal: excluded
        System Generated: excluded
    services: {Streets: highways, Sanitation: waste, Parking: parking}
"""

BANKLINE_MONTHS = ((1998, 1), (1998, 2))
CITYREQ_MONTHS = ((2015, 10), (2015, 11))


def _bankline_rows(rng: random.Random, year: int, month: int) -> list[list[str]]:
    rows = []
    for n in range(260):
        day = rng.randint(1, 28)
        start = dt.datetime(year, month, day, rng.randint(0, 23), rng.randint(0, 59),
                            rng.randint(0, 59))
        status = rng.choices(["ANS", "ABN", "IVR"], weights=[80, 15, 5])[0]
        wait = "" if status == "IVR" else str(rng.randint(0, 45))
        talk = str(rng.randint(30, 600)) if status == "ANS" else ""
        rows.append([f"{year % 100:02d}{month:02d}{n:05d}", start.strftime("%m/%d/%y"),
                     start.strftime("%H:%M:%S"), status, rng.choice(["Retail", "Loans"]),
                     wait, talk])
    rows[5][1] = "06/30/89"  # parses, before 1990: timestamp_out_of_range
    rows[6][1] = "02/30/98"  # does not parse: bad_timestamp
    return rows


def _cityreq_rows(rng: random.Random, year: int, month: int) -> list[list[str]]:
    origins = ["Phone", "Web Portal", "Email", "Walk In", "Internal", "System Generated"]
    rows = []
    for n in range(300):
        created = dt.datetime(year, month, rng.randint(1, 28), rng.randint(0, 23),
                              rng.randint(0, 59), rng.randint(0, 59))
        origin = rng.choices(origins, weights=[40, 25, 10, 5, 12, 8])[0]
        closed = (created + dt.timedelta(hours=rng.randint(1, 200))).strftime("%Y-%m-%dT%H:%M")
        rows.append([f"{year}-{month:02d}{n:05d}", created.strftime("%m/%d/%Y %I:%M:%S %p"),
                     origin, rng.choice(["Streets", "Sanitation", "Parking", "Mayor"]),
                     closed if rng.random() < 0.7 else ""])
    rows[7][2] = "Fax"  # not in the origin map: unknown_code
    return rows


def write_onboarding_landing(root: Path, seed: int = 11) -> tuple[Path, Path]:
    """(landing dir, partners dir) of the two partners, written under root."""
    rng = random.Random(seed)
    landing, partners = root / "landing", root / "partners"
    partners.mkdir(parents=True)
    (partners / "bankline.yml").write_text(BANKLINE_YML, encoding="utf-8")
    (partners / "cityreq.yml").write_text(CITYREQ_YML, encoding="utf-8")
    calls = landing / "bankline" / "telephony"
    calls.mkdir(parents=True)
    for year, month in BANKLINE_MONTHS:
        with (calls / f"calls_{year}{month:02d}.tsv").open("w", newline="", encoding="utf-8") \
                as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["CALLID", "DATE", "TIME", "STATUS", "SPLIT", "QTIME", "TTIME"])
            writer.writerows(_bankline_rows(rng, year, month))
    requests = landing / "cityreq" / "crm"
    requests.mkdir(parents=True)
    for year, month in CITYREQ_MONTHS:
        with (requests / f"requests_{year}_{month:02d}.csv").open("w", newline="",
                                                                 encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(["SR Number", "Created Date", "Origin", "Department", "Closed Date"])
            writer.writerows(_cityreq_rows(rng, year, month))
    return landing, partners
