"""Loading CRM extracts (docs/crm.md): CSV and JSON lines, quarantine, re-delivery, the
pseudonymisation key, and no clear personal value anywhere in the work database.

Real DuckDB, real files and a test partner YAML written under tmp_path.
"""

from __future__ import annotations

import json
import stat
import textwrap
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest import load_source, write_partner_config
from dagster_project.partners import PartnerConfigError, load_partners
from dagster_project.privacy import PseudonymisationKeyMissing, keyed_hash, pseudonymisation_key
from dagster_project.settings import REPO_ROOT

CSV_PARTNER = """\
code: crmtown
name: CRM Town Council
timezone: Europe/London
sources:
  telephony:
    files: "*.csv"
    period_pattern: 'crmtown_calls_(?P<year>\\d{4})_(?P<month>\\d{2})\\.csv$'
    columns: {call_id: Call, started_at: Start, outcome: Result}
    timestamp_format: "%Y-%m-%d %H:%M:%S"
    outcome_codes: {A: answered, AB: abandoned}
  crm:
    files: "*.csv"
    period_pattern: 'crmtown_crm_(?P<year>\\d{4})_(?P<month>\\d{2})\\.csv$'
    format: {type: csv, delimiter: ",", encoding: utf-8, header: true}
    columns:
      enquiry_id: Case Ref
      created_at: Logged
      channel: Channel
      resolved_at: Resolved
      service: Service
      first_contact_resolved: FCR
      avoidable_reason: Avoidable
      satisfaction: Score
      feedback_type: Feedback
      customer_name: Customer
      phone: Phone
      email: Email
      postcode: Postcode
      uprn: UPRN
    timestamp_format: "%Y-%m-%d %H:%M:%S"
    timestamp_zone: local
    codes:
      channel: {TEL: phone, F2F: face_to_face, WEB: web}
      avoidable_reason: {CHASE: progress_chasing, "-": none}
      feedback_type: {COMP: complaint}
    services: {Council Tax: council_tax, Bins: waste}
complaint_policy:
  stage_1: 15
"""

JSONL_PARTNER = """\
code: jsontown
name: JSON Town Council
sources:
  crm:
    files: "*.jsonl"
    period_pattern: 'jsontown_(?P<year>\\d{4})-(?P<month>\\d{2})\\.jsonl$'
    format: {type: jsonl}
    columns:
      enquiry_id: id
      created_at: created
      channel: channel
      service: case.service
      first_contact_resolved: case.fcr
      satisfaction: case.score
      customer_name: customer.name
      phone: customer.phone
      email: customer.email
      postcode: customer.address.postcode
    timestamp_format: "%Y-%m-%dT%H:%M:%SZ"
    timestamp_zone: utc
    codes:
      channel: {phone: phone, web: web, email: email}
      flag: {"yes": "true", "no": "false"}
"""

CSV_HEADER = ("Case Ref,Logged,Channel,Resolved,Service,FCR,Avoidable,Score,Feedback,Customer,"
              "Phone,Email,Postcode,UPRN")
# Personal values of the fixtures: none of them may be found in the work database.
PEOPLE = [
    ("SMITH, Mr John", "+44 7700 900123", "John.Smith@Example.org", "ab1 2cd", "100023336956"),
    ("john smith", "07700900123", "john.smith@example.org ", "AB12CD", "10002333"),
    ("Zoë Ångström-Wright", "0161 496 0000", "zoe@example.co.uk", "M1 1AE", ""),
    ("Dr Priya Natarajan", "12345", "not-an-email", "AB1", "x"),
    ("", "", "", "", ""),
]
CLEAR_VALUES = sorted({v.strip() for person in PEOPLE for v in person if len(v.strip()) >= 5}
                      | {"Smith", "John", "Ångström", "Priya", "Natarajan", "7700900123",
                         "AB12CD", "M11AE", "example.org"})


def csv_rows(start: int = 1, people=PEOPLE) -> list[str]:
    rows = []
    for i, (name, phone, email, postcode, uprn) in enumerate(people, start=start):
        quoted = f'"{name}"' if "," in name else name
        rows.append(f"CT{i:04d},2024-03-0{1 + i % 9} 10:00:00,TEL,2024-03-0{1 + i % 9} 10:05:00,"
                    f"Council Tax,Y,CHASE,{1 + i % 5},,{quoted},{phone},{email},{postcode},{uprn}")
    return rows


def jsonl_line(i: int, person) -> str:
    name, phone, email, postcode, _ = person
    return json.dumps({"id": f"J{i}", "created": "2024-03-04T09:00:00Z", "channel": "web",
                       "case": {"service": "Bins", "fcr": "yes", "score": 4},
                       "customer": {"name": name or None, "phone": phone, "email": email,
                                    "address": {"postcode": postcode}}})


@pytest.fixture
def crm(tmp_path, settings, monkeypatch):
    """A partners folder with the two test partners; demo mode, no key in the environment."""
    monkeypatch.delenv("HUB_PSEUDONYMISATION_KEY", raising=False)
    monkeypatch.delenv("HUB_MODE", raising=False)
    folder = tmp_path / "partners"
    folder.mkdir()
    (folder / "crmtown.yml").write_text(CSV_PARTNER, encoding="utf-8")
    (folder / "jsontown.yml").write_text(JSONL_PARTNER, encoding="utf-8")
    return load_partners(folder, REPO_ROOT / "seeds" / "reference")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def csv_file(settings, month: str = "03") -> Path:
    return settings.landing_dir / "crmtown" / "crm" / f"crmtown_crm_2024_{month}.csv"


def jsonl_file(settings) -> Path:
    return settings.landing_dir / "jsontown" / "crm" / "jsontown_2024-03.jsonl"


def query(settings, sql: str, params=None):
    con = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def load(settings, partners, **kwargs):
    return load_source(settings.work_db, settings.landing_dir, partners, "crm", **kwargs)


RAW_COLUMNS = [
    "partner_code", "enquiry_id", "created_at", "channel", "resolved_at", "service",
    "enquiry_type", "first_contact_resolved", "back_office", "avoidable_reason", "satisfaction",
    "feedback_type", "feedback_stage", "responded_at", "customer_name_key", "phone_key",
    "email_key", "postcode_key", "uprn_key", "name_postcode_key", "has_customer_name",
    "has_phone", "has_email", "has_postcode", "is_phone_valid", "is_email_valid",
    "is_postcode_valid", "_source_file", "_file_hash", "_row_number", "_delivery_key",
    "_load_id", "_loaded_at"]


def test_csv_load_pseudonymises_personal_fields(settings, crm):
    write(csv_file(settings), "\n".join([CSV_HEADER, *csv_rows()]) + "\n")
    report = load(settings, crm)
    (result,) = report.files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 5, 0)
    columns = query(settings, "select column_name, data_type from information_schema.columns "
                              "where table_schema = 'raw' and table_name = 'crm_contacts' "
                              "order by ordinal_position")
    assert [c for c, _ in columns] == RAW_COLUMNS
    types = dict(columns)
    assert types["has_phone"] == types["is_postcode_valid"] == "BOOLEAN"
    assert types["_row_number"] == "BIGINT" and types["satisfaction"] == "VARCHAR"
    rows = query(settings, f"select {', '.join(RAW_COLUMNS[1:27])}, _row_number "
                           f"from raw.crm_contacts order by _row_number")
    assert [r[-1] for r in rows] == [1, 2, 3, 4, 5]
    first, second, zoe, priya, empty = (dict(zip(RAW_COLUMNS[1:27], r, strict=False))
                                        for r in rows)
    assert first["enquiry_id"] == "CT0001" and first["channel"] == "TEL"
    assert first["service"] == "Council Tax" and first["feedback_type"] is None
    assert first["enquiry_type"] is None  # not configured: null
    # "SMITH, Mr John" and "john smith" are one person; so are their phones, e-mails, postcodes
    for col in ("customer_name_key", "phone_key", "email_key", "postcode_key",
                "name_postcode_key"):
        assert first[col] is not None and len(first[col]) == 32 and first[col] == second[col]
    assert first["uprn_key"] != second["uprn_key"]
    assert first["is_phone_valid"] and first["is_email_valid"] and first["is_postcode_valid"]
    assert zoe["is_phone_valid"] and zoe["uprn_key"] is None  # empty uprn
    # invalid values: given, flagged invalid, no key
    assert priya["has_phone"] and priya["is_phone_valid"] is False and priya["phone_key"] is None
    assert priya["is_email_valid"] is False and priya["email_key"] is None
    assert priya["is_postcode_valid"] is False and priya["postcode_key"] is None
    assert priya["customer_name_key"] is not None and priya["name_postcode_key"] is None
    assert priya["uprn_key"] is None  # "x" has no digits
    # nothing given: no keys, has_ false, is_ null
    assert [empty[c] for c in RAW_COLUMNS[14:27]] == [None] * 6 + [False] * 4 + [None] * 3
    # the key is the documented HMAC
    key = pseudonymisation_key(settings)
    assert first["phone_key"] == keyed_hash(key, "phone", "07700900123")
    assert first["customer_name_key"] == keyed_hash(key, "name", "john smith")
    assert query(settings, "select source, rows_read, rows_loaded from raw.load_files") == [
        ("crm", 5, 5)]
    assert query(settings, "select source, status from raw.load_events") == [("crm", "loaded")]


def test_jsonl_load_flattens_and_quarantines_bad_lines(settings, crm):
    lines = [jsonl_line(1, PEOPLE[0]),
             '{"id": "J2", "created": "2024-03-04T09:00:00Z" "channel": "web"}',
             jsonl_line(3, PEOPLE[2]),
             "",
             '["not", "an", "object"]',
             jsonl_line(6, PEOPLE[1])]
    write(jsonl_file(settings), "\n".join(lines) + "\n")
    (result,) = load(settings, crm).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 3, 3)
    assert "quarantined" in result.message
    rows = query(settings, "select _row_number, enquiry_id, created_at, channel, service, "
                           "first_contact_resolved, satisfaction, has_postcode, postcode_key "
                           "is not null, phone_key from raw.crm_contacts order by 1")
    assert [r[:8] for r in rows] == [
        (1, "J1", "2024-03-04T09:00:00Z", "web", "Bins", "yes", "4", True),
        (3, "J3", "2024-03-04T09:00:00Z", "web", "Bins", "yes", "4", True),
        (6, "J6", "2024-03-04T09:00:00Z", "web", "Bins", "yes", "4", True)]
    assert rows[0][9] == rows[2][9] is not None  # same phone, two spellings
    rejected = query(settings, "select source, _row_number, reason, raw_line "
                               "from raw.rejected_rows order by 2")
    assert [(s, n, line) for s, n, _, line in rejected] == [
        ("crm", 2, None), ("crm", 4, None), ("crm", 5, None)]
    reasons = [r[2] for r in rejected]
    assert reasons[0] == "malformed JSON: Expecting ',' delimiter (col 48)"
    assert reasons[1].startswith("malformed JSON") and "blank" in reasons[1]
    assert reasons[2].startswith("malformed JSON") and "object" in reasons[2]
    assert query(settings, "select rows_read, rows_loaded, rows_rejected from raw.load_files"
                 ) == [(6, 3, 3)]


def test_jsonl_file_of_nothing_but_bad_lines_is_rejected(settings, crm):
    write(jsonl_file(settings), "not json\n{broken\n")
    (result,) = load(settings, crm).files
    assert result.status == "rejected" and "jsontown_2024-03.jsonl" in result.message
    assert "valid JSON object" in result.message


def test_malformed_csv_line_is_quarantined_without_its_text(settings, crm):
    rows = csv_rows()
    rows[2] = rows[2] + ",extra,fields"
    write(csv_file(settings), "\n".join([CSV_HEADER, *rows]) + "\n")
    (result,) = load(settings, crm).files
    assert (result.rows_loaded, result.rows_rejected) == (4, 1)
    ((row_number, reason, raw_line),) = query(
        settings, "select _row_number, reason, raw_line from raw.rejected_rows")
    assert row_number == 3 and "TOO MANY COLUMNS" in reason.upper() and raw_line is None
    assert [r[0] for r in query(settings, "select _row_number from raw.crm_contacts order by 1")
            ] == [1, 2, 4, 5]


def test_redelivery_replaces_and_identical_reload_is_unchanged(settings, crm):
    path = write(csv_file(settings), "\n".join([CSV_HEADER, *csv_rows()]) + "\n")
    load(settings, crm)
    again = load(settings, crm)
    assert again.count("unchanged") == 1 and again.rows_loaded == 0
    assert query(settings, "select count(*) from raw.crm_contacts") == [(5,)]
    write(path, "\n".join([CSV_HEADER, *csv_rows(start=100, people=PEOPLE[:3])]) + "\n")
    (result,) = load(settings, crm).files
    assert result.status == "replaced" and result.rows_loaded == 3
    assert query(settings, "select count(*), min(enquiry_id) from raw.crm_contacts") == [
        (3, "CT0100")]
    assert query(settings, "select count(*), sum(rows_loaded) from raw.load_files") == [(1, 3)]


def test_a_file_duckdb_cannot_read_costs_no_other_crm_file(settings, crm):
    """A CRM file DuckDB refuses (a repeated column name) aborts the batch's transaction; the
    pseudonymisation's functions, registered before it, outlive its rollback, so the good file,
    loaded again on its own, is still loaded, pseudonymised."""
    write(csv_file(settings, "03"), "\n".join([CSV_HEADER, *csv_rows()]) + "\n")
    write(csv_file(settings, "04"), "\n".join([CSV_HEADER + ",Service",
                                               *(r + ",x" for r in csv_rows(start=50))]) + "\n")
    report = load(settings, crm)
    result = {f.rel_path.rsplit("/", 1)[1]: f for f in report.files}
    assert (result["crmtown_crm_2024_03.csv"].status,
            result["crmtown_crm_2024_03.csv"].rows_loaded) == ("loaded", 5)
    assert result["crmtown_crm_2024_04.csv"].status == "rejected"
    assert "DuckDB could not read it" in result["crmtown_crm_2024_04.csv"].message
    key = pseudonymisation_key(settings)
    assert query(settings, "select phone_key from raw.crm_contacts where enquiry_id = 'CT0001'") \
        == [(keyed_hash(key, "phone", "07700900123"),)]


def test_only_a_load_that_reads_a_file_registers_the_pseudonymisation(settings, crm,
                                                                       monkeypatch):
    """The pseudonymisation's functions (and pyarrow, which they import) cost about a second
    of a build that finds nothing new: they are registered only when a file may be read."""
    import dagster_project.privacy as privacy

    path = write(csv_file(settings), "\n".join([CSV_HEADER, *csv_rows()]) + "\n")
    load(settings, crm)
    registered = []
    register = privacy.register_udfs
    monkeypatch.setattr(privacy, "register_udfs",
                        lambda con, key: registered.append(key) or register(con, key))
    assert load(settings, crm).count("unchanged") == 1
    assert registered == []
    # the same bytes with another modification time: hashed, found unchanged, but only a
    # read could tell, so the functions are ready for it
    stat = path.stat()
    path.touch()
    assert path.stat().st_mtime_ns != stat.st_mtime_ns
    assert load(settings, crm).count("unchanged") == 1
    assert len(registered) == 1


def test_production_without_key_loads_nothing(settings, crm, monkeypatch):
    write(csv_file(settings), "\n".join([CSV_HEADER, *csv_rows()]) + "\n")
    write(settings.landing_dir / "crmtown" / "telephony" / "crmtown_calls_2024_03.csv",
          "Call,Start,Result\nC1,2024-03-01 10:00:00,A\n")
    monkeypatch.setenv("HUB_MODE", "production")
    with pytest.raises(PseudonymisationKeyMissing) as exc:
        load(settings, crm)
    message = str(exc.value)
    assert "HUB_PSEUDONYMISATION_KEY" in message and "production" in message
    assert "secrets.token_hex" in message and "changes every customer id" in message
    assert not (settings.data_dir / "secrets").exists()
    telephony = load_source(settings.work_db, settings.landing_dir, crm, "telephony")
    assert telephony.rows_loaded == 1  # telephony is unaffected
    tables = {r[0] for r in query(settings, "select table_name from information_schema.tables")}
    assert "crm_contacts" not in tables
    assert query(settings, "select count(*) from raw.load_files where source = 'crm'") == [(0,)]
    # with a key it loads
    monkeypatch.setenv("HUB_PSEUDONYMISATION_KEY", "a-production-secret-0123456789")
    assert load(settings, crm).rows_loaded == 5


def test_short_key_is_refused(settings, monkeypatch):
    monkeypatch.setenv("HUB_PSEUDONYMISATION_KEY", "short")
    with pytest.raises(PseudonymisationKeyMissing, match="only 5 characters"):
        pseudonymisation_key(settings)


def test_demo_key_is_generated_once_private_and_reused(settings, monkeypatch):
    monkeypatch.delenv("HUB_PSEUDONYMISATION_KEY", raising=False)
    monkeypatch.setenv("HUB_MODE", "demo")
    path = settings.data_dir / "secrets" / "pseudonymisation.key"
    assert not path.exists()
    key = pseudonymisation_key(settings)
    assert len(key) >= 16 and path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pseudonymisation_key(settings.data_dir) == key
    monkeypatch.setenv("HUB_PSEUDONYMISATION_KEY", "x" * 20)
    assert pseudonymisation_key(settings) == "x" * 20


def test_no_clear_personal_value_in_the_work_database(settings, crm):
    write(csv_file(settings), "\n".join([CSV_HEADER, *csv_rows()]) + "\n")
    rows = csv_rows(start=50)
    rows[1] = rows[1] + ",extra"  # a quarantined line with personal data
    write(csv_file(settings, "04"), "\n".join([CSV_HEADER, *rows]) + "\n")
    write(jsonl_file(settings), "\n".join(
        [jsonl_line(i, p) for i, p in enumerate(PEOPLE)]
        + ['{"id": "bad", "customer": {"name": "Smith, John", "phone": "07700900123",}}']) + "\n")
    report = load(settings, crm)
    assert report.rows_loaded == 14 and report.rows_rejected == 2
    con = duckdb.connect(str(settings.work_db))
    try:
        write_partner_config(con, crm)
    finally:
        con.close()
    blob = settings.work_db.read_bytes()
    for wal in settings.work_db.parent.glob("*.wal"):
        blob += wal.read_bytes()
    lowered = blob.lower()
    for value in CLEAR_VALUES:
        assert value.encode().lower() not in lowered, value
        assert value.lower().encode("utf-16-le") not in lowered, value
    columns = query(settings, "select table_schema, table_name, column_name "
                              "from information_schema.columns where data_type = 'VARCHAR'")
    assert len(columns) > 20
    for schema, table, column in columns:
        values = [r[0].lower() for r in query(
            settings, f'select distinct "{column}" from "{schema}"."{table}" '
                      f'where "{column}" is not null')]
        for value in CLEAR_VALUES:
            assert not any(value.lower() in v for v in values), (schema, table, column, value)


def test_partner_config_tables(settings, crm):
    con = duckdb.connect(str(settings.work_db))
    try:
        counts = write_partner_config(con, crm)
        codes = con.execute("select field, code, canonical from raw.partner_crm_codes "
                            "where partner_code = 'crmtown' order by 1, 2").fetchall()
        services = con.execute("select * from raw.partner_crm_services order by 2").fetchall()
        policy = con.execute("select * from raw.partner_complaint_policy order by 1, 2"
                             ).fetchall()
        sources = con.execute("select partner_code, source, timestamp_format, timestamp_zone, "
                              "wait_format, wrap_format from raw.partner_sources "
                              "where source = 'crm' order by 1").fetchall()
        types = con.execute("select data_type from information_schema.columns where table_name "
                            "= 'partner_complaint_policy' order by ordinal_position").fetchall()
    finally:
        con.close()
    assert counts["partner_crm_services"] == 2
    assert ("channel", "F2F", "face_to_face") in codes
    assert ("avoidable_reason", "-", "none") in codes
    assert ("flag", "Yes", "true") in codes and ("flag", "0", "false") in codes  # default map
    assert services == [("crmtown", "Bins", "waste"), ("crmtown", "Council Tax", "council_tax")]
    assert policy == [("crmtown", 1, 15), ("crmtown", 2, 20), ("jsontown", 1, 10),
                      ("jsontown", 2, 20)]
    assert types == [("VARCHAR",), ("INTEGER",), ("INTEGER",)]
    assert sources == [("crmtown", "crm", "%Y-%m-%d %H:%M:%S", "local", None, None),
                       ("jsontown", "crm", "%Y-%m-%dT%H:%M:%SZ", "utc", None, None)]


def _config_error(tmp_path: Path, yaml_text: str) -> str:
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)
    (folder / "crmtown.yml").write_text(yaml_text, encoding="utf-8")
    with pytest.raises(PartnerConfigError) as exc:
        load_partners(folder, REPO_ROOT / "seeds" / "reference")
    return str(exc.value)


@pytest.mark.parametrize("change, expected", [
    (("      channel: {TEL: phone, F2F: face_to_face, WEB: web}\n", ""),
     "sources.crm.codes.channel: required key missing"),
    (("  stage_1: 15\n", "  stage_1: 0\n"), "complaint_policy.stage_1"),
    (("  stage_1: 15\n", "  stage_3: 5\n"), "complaint_policy.stage_3"),
    (("      channel: Channel\n", ""), "sources.crm.columns.channel: required key missing"),
    (("      uprn: UPRN\n", "      uprn: UPRN\n      address: Addr\n"),
     "sources.crm.columns.address"),
    (("{type: csv,", "{type: parquet,"), "sources.crm.format.type: Input should be 'csv'"),
    (('    timestamp_format: "%Y-%m-%d %H:%M:%S"\n    timestamp_zone',
      '    timestamp_format: "%Y-%m-%d %Q"\n    timestamp_zone'),
     "sources.crm.timestamp_format: '%Y-%m-%d %Q' is not a DuckDB strptime format"),
    (("feedback_type: {COMP: complaint}", "feedback_type: {COMP: grumble}"),
     "sources.crm.codes.feedback_type.COMP"),
    (("feedback_type: {COMP: complaint}", "flag: {Yes: \"true\"}"), "quote it"),
])
def test_crm_config_errors_name_file_and_key(tmp_path, change, expected):
    old, new = change
    assert old in CSV_PARTNER
    message = _config_error(tmp_path, CSV_PARTNER.replace(old, new, 1))
    assert "crmtown.yml" in message and expected in message


def test_telephony_cannot_be_jsonl(tmp_path):
    text = CSV_PARTNER.replace("    columns: {call_id", "    format: {type: jsonl}\n"
                               "    columns: {call_id", 1)
    assert "sources.telephony.format: type 'jsonl' is for crm only" in _config_error(tmp_path,
                                                                                     text)


def test_default_complaint_policy_and_flag_map(tmp_path):
    text = textwrap.dedent(CSV_PARTNER).replace("complaint_policy:\n  stage_1: 15\n", "")
    folder = tmp_path / "ok"
    folder.mkdir()
    (folder / "crmtown.yml").write_text(text, encoding="utf-8")
    partner = load_partners(folder)["crmtown"]
    assert partner.complaint_policy == {1: 10, 2: 20}
    crm = partner.sources["crm"]
    assert crm.field_codes["flag"]["N"] == "false" and crm.services["Bins"] == "waste"


def test_dagster_loads_both_sources_in_one_run(settings, crm, tmp_path, monkeypatch):
    import dataclasses

    import dagster as dg

    from dagster_project.orchestration.raw_assets import (
        raw_crm_contacts,
        raw_load_log,
        raw_partner_config,
        raw_telephony_calls,
    )
    from dagster_project.orchestration.resources import WarehouseResource, WriterLockResource

    write(csv_file(settings), "\n".join([CSV_HEADER, *csv_rows()]) + "\n")
    write(jsonl_file(settings), "\n".join(jsonl_line(i, p) for i, p in enumerate(PEOPLE)) + "\n")
    write(settings.landing_dir / "crmtown" / "telephony" / "crmtown_calls_2024_03.csv",
          "Call,Start,Result\nC1,2024-03-01 10:00:00,A\n")
    local = dataclasses.replace(settings, partners_dir=tmp_path / "partners")
    defs = dg.Definitions(
        assets=[raw_partner_config, raw_telephony_calls, raw_crm_contacts, raw_load_log],
        jobs=[dg.define_asset_job("raw_only", selection="*")],
        resources={"warehouse": WarehouseResource.from_settings(local),
                   "writer_lock": WriterLockResource.from_settings(local)},
    )
    graph = defs.resolve_asset_graph()
    log_parents = graph.get(dg.AssetKey(["raw", "load_files"])).parent_keys
    # every source's load asset (the service-standard sources' and the direct-dial extract's
    # too: docs/architecture.md), named as written here, not derived from the registry
    assert log_parents == {dg.AssetKey(["raw", t]) for t in (
        "telephony_calls", "crm_contacts", "voicemail_messages", "reception_tickets",
        "web_days", "direct_dial_calls")}
    for table in ("partner_crm_codes", "partner_crm_services", "partner_complaint_policy"):
        assert graph.has(dg.AssetKey(["raw", table]))
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("raw_only").execute_in_process(instance=instance)
    assert result.success and len(instance.get_runs()) == 1
    mats = Counter(tuple(e.asset_key.path) for e in result.get_asset_materialization_events())
    # one materialization per load asset for the run, however many files and months
    assert mats[("raw", "crm_contacts")] == mats[("raw", "telephony_calls")] == 1
    assert query(settings, "select source, sum(rows_loaded) from raw.load_files group by all "
                           "order by 1") == [("crm", 10), ("telephony", 1)]

    # production without a key: the CRM step fails with the clear error, telephony loads
    monkeypatch.setenv("HUB_MODE", "production")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "other"))
    write(csv_file(settings, "04"), "\n".join([CSV_HEADER, *csv_rows(start=20)]) + "\n")
    failed = defs.resolve_job_def("raw_only").execute_in_process(
        instance=instance, raise_on_error=False)
    assert not failed.success
    failures = [e for e in failed.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["raw__crm_contacts"]
    assert "HUB_PSEUDONYMISATION_KEY" in failures[0].step_failure_data.error.message
    assert query(settings, "select count(*) from raw.crm_contacts") == [(10,)]


def test_status_shows_crm_deliveries(tmp_path):
    import datetime as dt

    from dagster_project.status import status_report

    ops = tmp_path / "operations.duckdb"
    con = duckdb.connect(str(ops))
    con.execute("create schema raw; create schema marts")
    con.execute("create table raw.partner_sources as select * from (values ('crmtown', 'crm'), "
                "('crmtown', 'telephony'), ('jsontown', 'crm')) t(partner_code, source)")
    con.execute("create table raw.load_events as select * from (values "
                "('L1', timestamp '2024-04-01 10:00', 'crm', 'rejected', 'jsontown/crm/x: bad', "
                "'jsontown/crm/x')) t(load_id, event_at, source, status, message, source_file)")
    con.execute("create table marts.kpi_deliveries (partner_code varchar, source varchar, "
                "month date, files bigint, rows_read bigint, rows_valid bigint, "
                "rows_rejected bigint, rows_quarantined bigint, rows_excluded bigint)")
    con.execute("insert into marts.kpi_deliveries values "
                "('crmtown', 'crm', date '2024-03-01', 1, 5, 3, 1, 1, 0)")
    con.close()
    out = status_report(ops, ["crmtown", "jsontown"], dt.date(2024, 3, 1))
    assert "Telephony for March 2024: 0 of 2 partners delivered" in out
    assert "CRM for March 2024: 1 of 2 partners delivered; not delivered: jsontown" in out
    crm_lines = out.split("CRM for", 1)[1].splitlines()
    assert next(ln for ln in crm_lines if ln.startswith("crmtown ")).split() == [
        "crmtown", "2024-03", "1", "5", "3", "2", "0"]
    assert "CRM in each partner's latest delivered month: 1 of 2" in status_report(
        ops, ["crmtown", "jsontown"], None)
    assert "jsontown/crm/x: bad" in out


def test_jsonl_without_any_configured_key_is_rejected(settings, crm):
    write(jsonl_file(settings), '{"ref": 1, "when": "x"}\n{"ref": 2}\n')
    (result,) = load(settings, crm).files
    assert result.status == "rejected" and "jsontown_2024-03.jsonl" in result.message
    assert "configured key" in result.message and "found 2 other key(s)" in result.message
    assert "'ref'" not in result.message  # only the names the configuration expects are quoted


def test_file_without_header_is_rejected_without_echoing_personal_data(settings, crm):
    write(csv_file(settings), "\n".join(csv_rows()) + "\n")
    (result,) = load(settings, crm).files
    assert result.status == "rejected" and "header lacks configured column(s)" in result.message
    assert "Smith" not in result.message and "7700" not in result.message
    (message,) = query(settings, "select message from raw.load_events")[0]
    assert "Smith" not in message
