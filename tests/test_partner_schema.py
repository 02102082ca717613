"""The partner YAML schema (dagster_project/partner_schema.py, docs/partner-yaml.md): unknown
keys with a suggestion, code targets checked against the reference seeds, any strptime format,
"24:00" and `closed` opening hours, `excluded` CRM code targets; every message names the file
and the YAML key. Pure Python: seconds."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dagster_project import partner_docs
from dagster_project.partners import PartnerConfigError, load_partners
from dagster_project.settings import REPO_ROOT

REFERENCE = REPO_ROOT / "seeds" / "reference"

BASE = textwrap.dedent("""\
    code: banktown
    name: Bank Town
    timezone: Europe/London
    expects_deliveries: false
    opening_hours:
      mon: ["08:00", "18:00"]
      sat: closed
    sources:
      telephony:
        files: "*.tsv"
        period_pattern: 'calls_(?P<year>\\d{4})(?P<month>\\d{2})\\.tsv$'
        format: {type: csv, delimiter: "\\t", encoding: utf-8}
        columns:
          call_id: CALLID
          started_at: {expr: "\\"DATE\\" || ' ' || \\"TIME\\""}
          outcome: STATUS
          queue: SPLIT
          wait: QTIME
        timestamp_format: "%d%b%y %H:%M:%S"
        outcome_codes: {A: answered, H: abandoned}
        queues: {Retail: general}
      crm:
        files: "*.csv"
        columns: {enquiry_id: SR, created_at: Opened, channel: Origin, service: Dept}
        timestamp_format: "%m/%d/%Y %I:%M:%S %p"
        codes:
          channel: {Phone: phone, Web: web, Staff: excluded}
        services: {Streets: highways, Internal: excluded}
    """)


def _write(tmp_path: Path, text: str, code: str = "banktown") -> Path:
    folder = tmp_path / "partners"
    folder.mkdir(exist_ok=True)
    path = folder / f"{code}.yml"
    path.write_text(text, encoding="utf-8")
    return folder


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(PartnerConfigError) as exc:
        load_partners(_write(tmp_path, text), REFERENCE)
    return str(exc.value)


def test_a_foreign_format_loads_by_yaml_alone(tmp_path):
    partner = load_partners(_write(tmp_path, BASE), REFERENCE)["banktown"]
    telephony, crm = partner.sources["telephony"], partner.sources["crm"]
    assert telephony.delimiter == "\t" and telephony.timestamp_format == "%d%b%y %H:%M:%S"
    assert crm.timestamp_format == "%m/%d/%Y %I:%M:%S %p"
    assert crm.field_codes["channel"]["Staff"] == "excluded"
    assert crm.services["Internal"] == "excluded"
    assert partner.opening_hours == {"mon": ("08:00", "18:00")}  # sat: closed
    assert partner.expects_deliveries is False


@pytest.mark.parametrize("old, new, key, suggestion", [
    ("timezone: Europe/London", "timezon: Europe/London", "timezon", "timezone"),
    ('delimiter: "\\t"', 'delimeter: "\\t"', "sources.telephony.format.delimeter",
     "delimiter"),
    ("period_pattern:", "period_patern:", "sources.telephony.period_patern", "period_pattern"),
    ("expects_deliveries: false", "expect_deliveries: false", "expect_deliveries",
     "expects_deliveries"),
    ("outcome_codes:", "outcome_code:", "sources.telephony.outcome_code", "outcome_codes"),
    ("    columns: {enquiry_id", "    colums: {enquiry_id", "sources.crm.colums", "columns"),
])
def test_a_misspelt_key_is_an_error_with_a_suggestion(tmp_path, old, new, key, suggestion):
    assert old in BASE
    message = _error(tmp_path, BASE.replace(old, new, 1))
    assert "banktown.yml" in message
    assert f"{key}: unknown key; did you mean '{suggestion}'?" in message


def test_every_problem_is_listed_at_once(tmp_path):
    text = BASE.replace("timezone:", "timezon:").replace("period_pattern:", "period_patern:")
    message = _error(tmp_path, text)
    assert "2 problem(s)" in message and "timezon:" in message and "period_patern:" in message


@pytest.mark.parametrize("old, new, key, value, seed", [
    ("queues: {Retail: general}", "queues: {Retail: retail_banking}",
     "sources.telephony.queues.Retail", "retail_banking", "service_lines.csv"),
    ("Web: web,", "Web: website,", "sources.crm.codes.channel.Web", "website", "channels.csv"),
    ("Streets: highways", "Streets: roads", "sources.crm.services.Streets", "roads",
     "service_lines.csv"),
])
def test_a_code_target_unknown_to_the_reference_seeds_is_refused_before_loading(
        tmp_path, old, new, key, value, seed):
    message = _error(tmp_path, BASE.replace(old, new, 1))
    assert "banktown.yml" in message and f"{key}: '{value}' is not in seeds/reference/{seed}" \
        in message
    assert ("(allowed: " in message and "general" in message) or "phone" in message


def test_a_misspelt_column_expression_key_names_the_column(tmp_path):
    message = _error(tmp_path, BASE.replace("started_at: {expr:", "started_at: {exp:", 1))
    assert "sources.telephony.columns.started_at.exp: unknown key; did you mean 'expr'?" \
        in message


@pytest.mark.parametrize("fmt", ["%y-%m-%d %H:%M", "%m/%d/%Y %I:%M %p", "%d-%b-%Y %H:%M",
                                 "%Y %j %H:%M:%S", "%d %B %Y %H.%M"])
def test_any_duckdb_strptime_format_is_configuration(tmp_path, fmt):
    text = BASE.replace('"%d%b%y %H:%M:%S"', f'"{fmt}"', 1)
    assert load_partners(_write(tmp_path, text), REFERENCE)["banktown"] \
        .sources["telephony"].timestamp_format == fmt


@pytest.mark.parametrize("fmt, problem", [("%Y-%m-%d %Q", "is not a DuckDB strptime format"),
                                          ("2020-01-01", "has no strptime directive")])
def test_a_broken_timestamp_format_names_its_key(tmp_path, fmt, problem):
    message = _error(tmp_path, BASE.replace('"%d%b%y %H:%M:%S"', f'"{fmt}"', 1))
    assert f"sources.telephony.timestamp_format: '{fmt}' {problem}" in message


def test_per_column_timestamp_formats(tmp_path):
    text = BASE.replace('    timestamp_format: "%m/%d/%Y %I:%M:%S %p"\n',
                        '    timestamp_format: "%m/%d/%Y %I:%M:%S %p"\n'
                        '    column_timestamp_formats: {resolved_at: "%Y-%m-%d"}\n', 1)
    crm = load_partners(_write(tmp_path, text), REFERENCE)["banktown"].sources["crm"]
    assert crm.column_timestamp_formats == {"resolved_at": "%Y-%m-%d"}
    bad = text.replace("{resolved_at:", "{closed_at:")
    assert "sources.crm.column_timestamp_formats: Value error" not in _error(tmp_path, bad)
    assert "'closed_at' is not a timestamp field" in _error(tmp_path, bad)


def test_a_24_hour_centre_closes_at_24_00(tmp_path):
    text = BASE.replace('mon: ["08:00", "18:00"]', 'mon: ["00:00", "24:00"]', 1)
    partner = load_partners(_write(tmp_path, text), REFERENCE)["banktown"]
    assert partner.opening_hours["mon"] == ("00:00", "24:00")


@pytest.mark.parametrize("span, problem", [
    ('["08:00", "25:00"]', 'give ["HH:MM", "HH:MM"]'),
    ('["18:00", "08:00"]', "opens at 18:00, not before it closes at 08:00"),
    ("shut", 'give ["HH:MM", "HH:MM"] (local time, "24:00" for midnight) or "closed"'),
])
def test_bad_opening_hours_name_the_day(tmp_path, span, problem):
    message = _error(tmp_path, BASE.replace('["08:00", "18:00"]', span, 1))
    assert f"opening_hours.mon: {problem}" in message


def test_a_yaml_boolean_code_asks_for_quotes(tmp_path):
    message = _error(tmp_path, BASE.replace("{A: answered, H: abandoned}",
                                            "{Yes: answered, H: abandoned}", 1))
    assert "sources.telephony.outcome_codes" in message and "quote it" in message


def test_the_code_must_be_the_file_name(tmp_path):
    folder = _write(tmp_path, BASE, code="other")
    with pytest.raises(PartnerConfigError, match="code: 'banktown' must equal the file name"):
        load_partners(folder, REFERENCE)


def test_broken_yaml_names_the_line(tmp_path):
    message = _error(tmp_path, BASE.replace("code: banktown", "code: [banktown", 1))
    assert "banktown.yml: not valid YAML at line" in message


def test_every_repository_partner_is_valid():
    partners = load_partners(REPO_ROOT / "seeds" / "partners", REFERENCE)
    assert "phonenow" in partners and len(partners) >= 7


def test_the_generated_key_reference_is_current():
    assert partner_docs.main(["--check"]) == 0, "run python -m dagster_project.partner_docs"


def test_the_benchmarking_family_defaults_to_the_kind_and_is_a_code(tmp_path):
    """`family` (marts.kpi_benchmarks' family group) is the partner's `kind` unless given; a
    value that is not a lowercase code names its key."""
    default = load_partners(_write(tmp_path, "kind: unitary\n" + BASE), REFERENCE)["banktown"]
    assert (default.kind, default.benchmark_family) == ("unitary", "unitary")
    given = load_partners(_write(tmp_path, "kind: district\nfamily: rural_district\n" + BASE),
                          REFERENCE)["banktown"]
    assert given.benchmark_family == "rural_district"
    message = _error(tmp_path, "family: Rural Districts\n" + BASE)
    assert "family:" in message and "pattern" in message
