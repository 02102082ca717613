"""A hand-made partner with the three service-standard sources (voicemail as CSV, reception
as an xlsx workbook, web as JSON lines), each file holding one row per bad-input case beside
a few good rows, for the loader and `hub check` tests (tests/test_service_standards_loader.py)
and the hand-checked reference (tests/test_service_standards_recomputed.py).

Every expected figure below is worked out by hand from these rows.
"""

from __future__ import annotations

import json
from pathlib import Path

STDTOWN_YML = r"""# A partner delivering only its service-standard sources (test fixture).
code: stdtown
name: Standards Town Council
kind: district
timezone: Europe/London
opening_hours:
  mon: ["09:00", "17:00"]
  tue: ["09:00", "17:00"]
  wed: ["09:00", "17:00"]
  thu: ["09:00", "17:00"]
  fri: ["09:00", "17:00"]
sources:
  voicemail:
    files: "*.csv"
    period_pattern: 'vm_(?P<year>\d{4})(?P<month>\d{2})\.csv$'
    format: {type: csv, delimiter: ";", encoding: utf-8, header: true}
    columns: {voicemail_id: Ref, left_at: Left, responded_at: Responded, service: Mailbox}
    timestamp_format: "%d/%m/%Y %H:%M"
    services: {Council Tax: council_tax, Bins: waste, Staff: excluded}
  reception:
    files: "*.xlsx"
    period_pattern: 'desk_(?P<year>\d{4})_(?P<month>\d{2})\.xlsx$'
    format: {type: xlsx, sheet: Tickets, header: true}
    columns:
      ticket_id: Ticket
      issued_at: Issued
      called_at: Called
      finished_at: Finished
      service: Service
    timestamp_format: "%Y-%m-%d %H:%M:%S"
    target_wait_minutes: 20
    services: {Council Tax: council_tax, Staff: excluded}
  web:
    files: "*.jsonl"
    period_pattern: 'web_(?P<year>\d{4})-(?P<month>\d{2})\.jsonl$'
    format: {type: jsonl}
    columns:
      visit_date: date
      page: page
      service: service
      visits: stats.visits
      ratings_good: stats.good
      ratings_neutral: stats.neutral
      ratings_poor: stats.poor
    timestamp_format: "%Y-%m-%d"
    services: {Council Tax: council_tax, Bins: waste, Staff: excluded}
"""

VOICEMAIL_HEADER = "Ref;Left;Responded;Mailbox"
# 1 March 2024 is a Friday; Monday 4 March the next working day.
VOICEMAIL_MARCH = [
    "V1;01/03/2024 10:00;01/03/2024 11:00;Council Tax",  # valid, 1 h, in policy
    "V2;01/03/2024 16:00;04/03/2024 09:00;Council Tax",  # valid, 65 h, in policy (Monday)
    "V3;01/03/2024 16:00;05/03/2024 09:00;Bins",  # valid, 89 h, late (Tuesday)
    "V4;02/03/2024 10:00;;Bins",  # valid (Saturday), never responded: late
    ";01/03/2024 10:00;;Council Tax",  # missing_key
    "V6;31/02/2024 10:00;;Bins",  # bad_timestamp
    "V7;01/03/2024 10:00;01/03/2024 09:00;Bins",  # responded_before_left
    "V8;01/03/1970 10:00;;Bins",  # timestamp_out_of_range
    "V1;01/03/2024 12:00;;Bins",  # duplicate_voicemail_id (other values)
    "V10;01/03/2024 10:00;;Staff",  # excluded_service
    "V11;01/03/2024 10:00;;Bi\x07ns",  # control_character
    "V12;01/03/2024 10:00;;Bins;one too many;fields",  # malformed line (rejected)
]
VOICEMAIL_APRIL = [
    "V2;01/03/2024 16:00;04/03/2024 09:00;Council Tax",  # re-sent copy: already_delivered
    "V20;02/04/2024 09:30;02/04/2024 10:00;Bins",  # valid, 0.5 h, in policy
]
VOICEMAIL_QUARANTINE = {"missing_key": 1, "bad_timestamp": 1, "responded_before_left": 1,
                        "timestamp_out_of_range": 1, "duplicate_voicemail_id": 1,
                        "control_character": 1}

TICKET_HEADER = ("Ticket", "Issued", "Called", "Finished", "Service")
TICKETS_MARCH = [
    ("T1", "2024-03-04 09:00:00", "2024-03-04 09:10:00", "2024-03-04 09:20:00", "Council Tax"),
    ("T2", "2024-03-04 09:00:00", "2024-03-04 09:30:00", "2024-03-04 09:40:00", "Council Tax"),
    ("T3", "2024-03-04 09:05:00", None, "2024-03-04 09:25:00", "Council Tax"),  # walk-out
    ("T4", "2024-03-04 09:05:00", "2024-03-04 09:20:00", None, "Libraries"),  # unmapped
    (None, "2024-03-04 09:00:00", None, None, "Council Tax"),  # missing_key
    ("T6", "2024-03-04 09:00:00", "soon", None, "Council Tax"),  # bad_timestamp
    ("T7", "2024-03-04 09:00:00", "2024-03-04 08:50:00", None, "Council Tax"),  # out of order
    ("T1", "2024-03-04 10:00:00", None, None, "Council Tax"),  # duplicate_ticket_id
    ("T9", "2024-03-04 10:00:00", "2024-03-04 10:01:00", None, "Staff"),  # excluded_service
]
TICKET_QUARANTINE = {"missing_key": 1, "bad_timestamp": 1, "timestamps_out_of_order": 1,
                     "duplicate_ticket_id": 1}


def _web(date, page, service, visits, good=None, neutral=None, poor=None) -> str:
    stats = {"visits": visits}
    if good is not None:
        stats |= {"good": good, "neutral": neutral, "poor": poor}
    return json.dumps({"date": date, "page": page, "service": service, "stats": stats})


WEB_MARCH = [
    _web("2024-03-04", "/council-tax", "Council Tax", 100, 5, 1, 2),  # valid
    _web("2024-03-04", "/bins", "Bins", 50),  # valid, no ratings
    _web("2024-03-05", "/council-tax", "Council Tax", 30, 0, 0, 0),  # valid, rated none
    _web("2024-03-04", None, "Bins", 10),  # missing_key (no page)
    _web("2024-13-01", "/bins", "Bins", 10),  # bad_timestamp
    _web("2024-03-05", "/bins", "Bins", -3),  # bad_count
    _web("2024-03-04", "/council-tax", "Council Tax", 99),  # duplicate_page_day
    _web("2024-03-06", "/staff", "Staff", 7),  # excluded_service
    '{"date": "2024-03-06", "page": "/bins", "stats": {"visits": 4',  # malformed (rejected)
]
WEB_QUARANTINE = {"missing_key": 1, "bad_timestamp": 1, "bad_count": 1,
                  "duplicate_page_day": 1}

# Hand-worked March 2024 figures (kpi_service_standards_monthly)
MARCH = {
    "voicemails": 4, "voicemails_in_policy": 2, "voicemail_in_policy_pct": 50.0,
    "voicemail_median_response_hours": 65.0,  # of 1, 65, 89
    "reception_tickets": 4, "reception_tickets_called": 3,
    "reception_wait_avg_minutes": (10 + 30 + 15) / 3,
    "reception_seen_within_target_pct": 50.0,  # T1 (10) and T4 (15) within 20 minutes
    "reception_walkout_pct": 25.0,
    "web_visits": 180, "web_poor_rating_pct": 25.0,  # 2 poor of 8 ratings
}


def write_stdtown_landing(root: Path) -> tuple[Path, Path]:
    """(landing folder, partners folder) holding stdtown's YAML and files."""
    from openpyxl import Workbook

    partners, landing = root / "partners", root / "landing"
    partners.mkdir(parents=True, exist_ok=True)
    (partners / "stdtown.yml").write_text(STDTOWN_YML, encoding="utf-8")
    folder = landing / "stdtown"
    for source in ("voicemail", "reception", "web"):
        (folder / source).mkdir(parents=True, exist_ok=True)
    (folder / "voicemail" / "vm_202403.csv").write_text(
        "\n".join([VOICEMAIL_HEADER, *VOICEMAIL_MARCH]) + "\n", encoding="utf-8")
    (folder / "voicemail" / "vm_202404.csv").write_text(
        "\n".join([VOICEMAIL_HEADER, *VOICEMAIL_APRIL]) + "\n", encoding="utf-8")
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Tickets"
    for row in (TICKET_HEADER, *TICKETS_MARCH):
        sheet.append(list(row))
    workbook.save(folder / "reception" / "desk_2024_03.xlsx")
    (folder / "web" / "web_2024-03.jsonl").write_text("\n".join(WEB_MARCH) + "\n",
                                                      encoding="utf-8")
    return landing, partners
