"""A small hand-made CRM landing set (two partners) with hand-computed figures.

`alpha` delivers a `;`-separated CSV in cp1252 with a UTF-8 byte-order mark, local
`%d/%m/%Y %H:%M` timestamps, its own code maps and a 5-working-day stage-1 complaint policy.
`beta` delivers JSON lines with dotted key paths and UTC ISO timestamps, default yes/no flags and
the default complaint policy. Between them the rows exercise every quarantine reason, a malformed
line per format, cross-partner customer identity (e-mail, phone with +44, name + postcode, UPRN),
duplicate cases, repeats within 7 days (true, false and null), the unit-cost seed specificity
rules across a financial-year boundary, working days over Easter, and a UTC month boundary.
The expected figures are in tests/test_crm_kpis_recomputed.py::test_reference_crm_small.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO_REFERENCE = Path(__file__).resolve().parents[1] / "seeds" / "reference"

ALPHA_YML = """\
code: alpha
name: Alpha Test Council
kind: district
is_fictional: true
timezone: Europe/London
sources:
  crm:
    files: "*.csv"
    period_pattern: 'alpha_crm_(?P<year>\\d{4})_(?P<month>\\d{2})\\.csv$'
    format: {type: csv, delimiter: ";", encoding: cp1252, header: true}
    columns:
      enquiry_id: Ref
      created_at: Logged
      channel: Chan
      resolved_at: Closed
      service: Service
      enquiry_type: Type
      first_contact_resolved: FCR
      back_office: BO
      avoidable_reason: Avoid
      satisfaction: Sat
      feedback_type: Fb
      feedback_stage: Stage
      responded_at: Answered
      customer_name: Name
      phone: Tel
      email: Mail
      postcode: PC
      uprn: UPRN
    timestamp_format: "%d/%m/%Y %H:%M"
    timestamp_zone: local
    codes:
      channel: {TEL: phone, F2F: face_to_face, WEB: web, EML: email, LTR: letter, SOC: social,
                STF: excluded}
      avoidable_reason: {CHASE: progress_chasing, FAIL: service_failure, COMMS: poor_communication,
                         SIGN: poor_signposting, "-": none}
      feedback_type: {COMP: complaint, COMM: comment, COMPL: compliment}
      feedback_stage: {"Stage 1": "1", "Stage 2": "2"}
      flag: {Y: "true", N: "false"}
    services: {Council Tax: council_tax, Bins: waste}
complaint_policy:
  stage_1: 5
  stage_2: 15
"""

BETA_YML = """\
code: beta
name: Beta Test Council
kind: unitary
is_fictional: true
timezone: Europe/London
sources:
  crm:
    files: "*.jsonl"
    period_pattern: 'beta_(?P<year>\\d{4})(?P<month>\\d{2})\\.jsonl$'
    format: {type: jsonl, encoding: utf-8}
    columns:
      enquiry_id: id
      created_at: ts.created
      channel: channel
      resolved_at: ts.resolved
      service: svc
      first_contact_resolved: fcr
      avoidable_reason: avoid
      satisfaction: csat
      feedback_type: feedback.type
      feedback_stage: feedback.stage
      responded_at: ts.responded
      customer_name: customer.name
      phone: customer.phone
      email: customer.email
      postcode: customer.postcode
      uprn: customer.uprn
    timestamp_format: "%Y-%m-%dT%H:%M:%SZ"
    timestamp_zone: utc
    codes:
      channel: {P: phone, W: web, S: social}
      avoidable_reason: {chase: progress_chasing, "no": none}
      feedback_type: {complaint: complaint, compliment: compliment}
      feedback_stage: {"1": "1", "2": "2"}
    services: {Council Tax: council_tax}
"""

ALPHA_HEADER = ("Ref;Logged;Chan;Closed;Service;Type;FCR;BO;Avoid;Sat;Fb;Stage;Answered;"
                "Name;Tel;Mail;PC;UPRN")
ALPHA_ROWS = [
    # A1: John (e-mail, phone, postcode); phone in FY2023 at alpha's partner+year cost 3.00
    "A1;01/03/2024 09:00;TEL;01/03/2024 09:10;Council Tax;request;Y;N;CHASE;5;;;;"
    '"SMITH, Mr John";07700 900001;John.Smith@Example.com;ab1 2cd;',
    # A2: the same person by phone (+44), same service and channel 30 min later: duplicate
    "A2;01/03/2024 09:30;TEL;;Council Tax;request;N;;FAIL;;;;;John Smith;+44 7700 900001;;;",
    # A3: Jane, stage-1 complaint answered on its due day (5 working days), postcode invalid
    "A3;05/03/2024 10:00;WEB;05/03/2024 11:00;Council Tax;info;Y;;-;3;COMP;Stage 1;"
    "12/03/2024 16:00;Mrs Jane Dóe;;jane@example.org;XYZ;100000000001",
    # A4: John by phone a week later (makes A1 a repeat)
    "A4;08/03/2024 08:00;TEL;08/03/2024 08:05;Council Tax;request;Y;;-;4;;;;;07700900001;;;",
    # A5: Jane again (e-mail, other case), unanswered complaint due 3 April (Easter), repeat
    "A5;25/03/2024 12:00;EML;;Bins;report;;;;;COMP;;;Jane Doe;; JANE@example.org ;;",
    # malformed: too few fields
    "A6;21/03/2024 12:00;TEL;broken",
    "A7;;TEL;;Council Tax;;;;;;;;;Quarantined Person;07700900777;q7@example.net;;",
    "A8;31/02/2024 10:00;TEL;;Council Tax;;;;;;;;;;;;;",
    # A15: parses, but before 1990: timestamp_out_of_range
    "A15;10/03/1985 10:00;TEL;;Council Tax;;;;;;;;;;;;;",
    "A9;10/03/2024 10:00;FAX;;Council Tax;;;;;;;;;;;;;",
    "A10;10/03/2024 10:00;TEL;;Council Tax;;;;;6;;;;;;;;",
    "A11;10/03/2024 10:00;TEL;10/03/2024 09:00;Council Tax;;;;;;;;;;;;;",
    "A1;10/03/2024 10:00;TEL;;Council Tax;;;;;;;;;;;;;",
    # A12: Bob, unmapped service, phone in FY2024: no alpha 2024 row -> hub 2024 row 2.80
    "A12;02/04/2024 09:00;TEL;02/04/2024 09:30;Housing;;Y;;-;;;;;Bob Brown;0161 496 0000;;"
    "M1 1AA;",
    # A13: Bob by name + postcode, web (not a duplicate: other channel), invalid phone
    "A13;03/04/2024 09:00;WEB;;Housing;;;;;;;;;Brown, Bob;12345;;m11aa;",
    # A14: no identity at all (name only): no customer; alpha's latest contact
    "A14;30/04/2024 17:00;F2F;;Council Tax;;N;;;;;;;Zoë Ng;;;;",
    # A16: raised by staff (channel STF -> excluded): excluded, its unknown avoidable code
    # unchecked; never a contact, never quarantined
    "A16;11/03/2024 10:00;STF;;Council Tax;;;;ZZ;;;;;Staff Member;;;;",
]


def _beta(enquiry_id, created=None, resolved=None, responded=None, **fields):
    row = {"id": enquiry_id, "ts": {"created": created, "resolved": resolved,
                                    "responded": responded}}
    for key in ("channel", "svc", "fcr", "avoid", "csat"):
        if key in fields:
            row[key] = fields[key]
    if "fb_type" in fields:
        row["feedback"] = {"type": fields["fb_type"], "stage": fields.get("fb_stage")}
    row["customer"] = {k: fields.get(k) for k in ("name", "phone", "email", "postcode", "uprn")}
    return json.dumps(row, ensure_ascii=False)


BETA_LINES = [
    # B1: 23:30 UTC on 31 March is 00:30 BST on 1 April; John by e-mail (across partners)
    _beta("B1", "2024-03-31T23:30:00Z", "2024-04-01T08:00:00Z", channel="P",
          svc="Council Tax", fcr=True, csat=5, email="john.smith@example.com"),
    # B2: John by phone; stage-2 complaint, default 20 working days: due 1 May, answered 2 May
    _beta("B2", "2024-04-03T09:00:00Z", responded="2024-05-02T09:00:00Z", channel="W",
          svc="Council Tax", fcr="N", avoid="chase", fb_type="complaint", fb_stage="2",
          phone="07700 900001"),
    # B3: John again 20 minutes later, same service and channel: duplicate case
    _beta("B3", "2024-04-03T09:20:00Z", channel="W", svc="Council Tax", fcr="yes",
          phone="+44 7700 900001", email="not-an-email"),
    # B4: Ann by UPRN and name + postcode, social, unmapped service
    _beta("B4", "2024-04-20T12:00:00Z", "2024-04-20T12:30:00Z", channel="S", svc="Parking",
          csat=2, avoid="no", name="Ann Lee", postcode="ZZ1 1ZZ", uprn="200000000002"),
    '{"id": "B5", "ts": ',
    _beta("B6", "2024-04-21 10:00", channel="P"),
    _beta("B7", "2024-04-10T08:00:00Z", channel="X", email="q7b@example.net"),
    # B8: Ann by UPRN; beta's latest contact (10:00 UTC = 11:00 BST)
    _beta("B8", "2024-04-29T10:00:00Z", channel="P", svc="Council Tax", uprn="2000 0000 0002"),
]

UNIT_COSTS = """\
partner_code,channel_code,financial_year_start,unit_cost_gbp,note
,face_to_face,,8.00,default
,phone,,2.60,default
,email,,1.90,default
,letter,,4.50,default
,social,,1.20,default
,web,,0.20,default
,phone,2024,2.80,hub year row
alpha,web,,0.25,partner row
alpha,phone,2023,3.00,partner + year row
"""


def write_small_landing(root: Path) -> tuple[Path, Path, Path]:
    """(landing dir, partners dir, reference dir) of the small set, written under root."""
    landing, partners, reference = root / "landing", root / "partners", root / "reference"
    (landing / "alpha" / "crm").mkdir(parents=True)
    (landing / "beta" / "crm").mkdir(parents=True)
    partners.mkdir()
    reference.mkdir()
    (partners / "alpha.yml").write_text(ALPHA_YML, encoding="utf-8")
    (partners / "beta.yml").write_text(BETA_YML, encoding="utf-8")
    text = "\r\n".join([ALPHA_HEADER, *ALPHA_ROWS]) + "\r\n"
    (landing / "alpha" / "crm" / "alpha_crm_2024_03.csv").write_bytes(
        b"\xef\xbb\xbf" + text.encode("cp1252"))
    (landing / "beta" / "crm" / "beta_202404.jsonl").write_text(
        "\n".join(BETA_LINES) + "\n\n", encoding="utf-8")
    (reference / "channel_unit_costs.csv").write_text(UNIT_COSTS, encoding="utf-8")
    shutil.copy(REPO_REFERENCE / "uk_bank_holidays.csv", reference / "uk_bank_holidays.csv")
    return landing, partners, reference
