"""Sample-data generator: real files, read back with the csv module / openpyxl.

Formats are checked against the partner YAML files themselves (not the generator's own parser),
so a generated file is known to follow the contract the ingest side reads. About one row in
5,000 is deliberately dirty (for the warehouse's quarantine); rows are classified here from the
YAML alone, the realism checks use the clean rows only.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import io
import re
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from openpyxl import load_workbook

from dagster_project.generate import GenerateReport, generate_sample
from dagster_project.generate.bank_holidays import england_and_wales_bank_holidays
from dagster_project.generate.closures import load_bank_holidays
from dagster_project.generate.direct_dial import BAD_TIME
from dagster_project.generate.dirt import KINDS, RESENDABLE, bad_timestamp_text
from dagster_project.generate.simulation import (
    DIRECT_DIAL,
    fcfs_with_patience,
    simulate_partner,
)
from dagster_project.generate.spec import load_partner_spec
from dagster_project.generate.writers import format_timestamps
from tests.fast_strptime import strptime

REPO = Path(__file__).resolve().parents[1]
PARTNERS_DIR = REPO / "seeds" / "partners"
HOLIDAYS_CSV = REPO / "seeds" / "reference" / "uk_bank_holidays.csv"
REALDATA = REPO / "seeds" / "realdata"
DBT_VARS = yaml.safe_load((REPO / "dbt" / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
EARLIEST = dt.date.fromisoformat(DBT_VARS["earliest_timestamp"])
END_MONTH = dt.date(2025, 4, 1)  # Feb-Apr 2025: council-tax billing, clocks change 30 March,
MONTHS = 3  # Good Friday 18 April and Easter Monday 21 April
SCALE = 0.2
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUEUE_OUTCOMES = {"answered", "abandoned", "direct_dial"}
EXCLUDED_OUTCOMES = {"test", "phantom"}


def partner_yamls() -> dict[str, dict]:
    configs = {}
    for path in sorted(PARTNERS_DIR.glob("*.yml")):
        configs[path.stem] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return configs


CONFIGS = partner_yamls()
GENERATED = sorted(code for code, config in CONFIGS.items() if config.get("generator"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerateReport]:
    root = tmp_path_factory.mktemp("landing")
    report = generate_sample(
        root, PARTNERS_DIR, months=MONTHS, seed=42, scale=SCALE, end_month=END_MONTH, workers=1
    )
    (root / "_summary.txt").write_text(report.summary(), encoding="utf-8")
    return root, report


@pytest.fixture(scope="module")
def landing(generated: tuple[Path, GenerateReport]) -> Path:
    return generated[0]


# ---------------------------------------------------------------- reading files back


def telephony(code: str) -> dict:
    return CONFIGS[code]["sources"]["telephony"]


def files_of(landing: Path, code: str) -> list[Path]:
    return sorted(p for p in (landing / code / "telephony").iterdir() if p.is_file())


def read_rows(path: Path, source: dict) -> tuple[list[str], list[list]]:
    """Header and rows exactly as a reader following the YAML format sees them."""
    fmt = source["format"]
    if fmt["type"] == "xlsx":
        workbook = load_workbook(path, read_only=True)
        rows = [list(row) for row in workbook[fmt["sheet"]].iter_rows(values_only=True)]
        workbook.close()
        width = len(rows[0])  # write-only sheets omit trailing empty cells: pad like readers do
        return [str(v) for v in rows[0]], [row + [None] * (width - len(row)) for row in rows[1:]]
    data = path.read_bytes()
    if fmt["encoding"] == "cp1252":
        assert data.startswith(b"\xef\xbb\xbf"), "cp1252 export must start with the UTF-8 BOM"
        data = data[3:]
    else:
        assert not data.startswith(b"\xef\xbb\xbf")
    text = data.decode(fmt["encoding"])
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=fmt["delimiter"]))
    return rows[0], rows[1:]


def parse_duration(value, style: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    if style == "hms":
        match = re.fullmatch(r"(\d+):([0-5]\d):([0-5]\d)", value)
        assert match, f"not H:MM:SS: {value!r}"
        hours, minutes, seconds = map(int, match.groups())
        return hours * 3600 + minutes * 60 + seconds
    assert re.fullmatch(r"\d+", value), f"not integer seconds: {value!r}"
    return int(value)


def dirt_kind(values: dict, source: dict) -> str | None:
    """The quarantine reason a row's values call for (duplicates aside), None when clean."""
    if values["call_id"] in (None, ""):
        return "missing_key"
    started = values["started_at"]
    if not isinstance(started, dt.datetime):
        if source["format"]["type"] == "xlsx":
            assert isinstance(started, str), started  # a bad start time stays a text cell
            return "bad_timestamp"
        try:
            started = strptime(started, source["timestamp_format"])
        except ValueError:
            return "bad_timestamp"
    if started.date() < EARLIEST:  # the generator's epoch variant: timestamp_out_of_range
        return "bad_timestamp"
    if values["outcome"] not in {str(code) for code in source["outcome_codes"]}:
        return "unknown_outcome_code"
    for field in ("wait", "talk", "hold", "wrap"):
        value = values[field]
        if (value < 0) if isinstance(value, int) else str(value or "").startswith("-"):
            return "negative_duration"
    return None


def read_partner_rows(landing: Path, code: str) -> list[dict]:
    """Every data row of a partner, in file order: file, row, `values` by canonical field,
    `cells` as read, and `kind`: the dirt it carries (None for a clean row). A row whose call id
    an earlier clean row already has is a `duplicate_call_id`."""
    source = telephony(code)
    mapping = source["columns"]
    claimed: set[str] = set()
    out = []
    for path in files_of(landing, code):
        header, rows = read_rows(path, source)
        position = {name: i for i, name in enumerate(header)}
        for number, row in enumerate(rows, start=1):
            values = {field: row[position[header]] for field, header in mapping.items()}
            kind = dirt_kind(values, source)
            if kind is None and values["call_id"] in claimed:
                kind = "duplicate_call_id"
            elif kind is None:
                claimed.add(values["call_id"])
            out.append(
                {"file": path.name, "row": number, "values": values, "cells": row, "kind": kind}
            )
    return out


def file_month(code: str, name: str) -> tuple[int, int]:
    match = re.search(telephony(code)["period_pattern"], name)
    assert match, name
    return int(match["year"]), int(match["month"])


def to_local(started, source: dict, zone: ZoneInfo) -> dt.datetime:
    if not isinstance(started, dt.datetime):
        started = strptime(started, source["timestamp_format"])
    if source.get("timestamp_zone") == "utc":
        started = started.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)
    return started


def read_calls(landing: Path, code: str) -> list[dict]:
    """Canonical clean calls of a partner: local naive `started_at`, canonical outcome, int
    seconds (dirty rows left out)."""
    source = telephony(code)
    outcomes = {str(k): v for k, v in source["outcome_codes"].items()}
    zone = ZoneInfo(CONFIGS[code]["timezone"])
    styles = {f: source.get("duration_format", "seconds") for f in ("wait", "talk", "hold", "wrap")}
    styles.update(source.get("duration_formats") or {})
    calls = []
    for row in read_partner_rows(landing, code):
        if row["kind"] is not None:
            continue
        raw = row["values"]
        call = {
            "call_id": raw["call_id"],
            "started_at": to_local(raw["started_at"], source, zone),
            "queue": raw["queue"],
            "outcome": outcomes[raw["outcome"]],
            "file": row["file"],
        }
        for field in ("wait", "talk", "hold", "wrap"):
            call[field] = parse_duration(raw[field], styles[field])
        calls.append(call)
    return calls


@pytest.fixture(scope="module")
def calls(landing: Path) -> dict[str, list[dict]]:
    return {code: read_calls(landing, code) for code in GENERATED}


def service_level(partner_calls: list[dict]) -> tuple[float, float, int]:
    """(TSF: answered within 15 s / (offered - abandons under 5 s), abandon rate, offered)."""
    offered = [c for c in partner_calls if c["outcome"] in ("answered", "abandoned")]
    short = sum(1 for c in offered if c["outcome"] == "abandoned" and c["wait"] < 5)
    quick = sum(1 for c in offered if c["outcome"] == "answered" and c["wait"] <= 15)
    abandoned = sum(1 for c in offered if c["outcome"] == "abandoned")
    return quick / (len(offered) - short), abandoned / len(offered), len(offered)


# ---------------------------------------------------------------- determinism


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_arguments_give_identical_bytes_whatever_the_workers(tmp_path: Path) -> None:
    args = dict(months=1, seed=7, scale=0.1, end_month=dt.date(2024, 3, 1))
    report = generate_sample(tmp_path / "a", PARTNERS_DIR, workers=1, **args)
    generate_sample(tmp_path / "b", PARTNERS_DIR, workers=2, **args)
    first, second = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert first.keys() == second.keys()
    assert any(name.endswith(".xlsx") for name in first)
    assert first == second  # dirty rows included
    dirt = Counter(
        row["kind"]
        for code in GENERATED
        for row in read_partner_rows(tmp_path / "a", code)
        if row["kind"] is not None
    )
    assert dirt and dirt == Counter({k: n for k, n in report.dirt_by_kind().items() if n})


def test_a_different_seed_gives_different_calls(tmp_path: Path) -> None:
    args = dict(months=1, scale=0.1, end_month=dt.date(2024, 3, 1), workers=1)
    generate_sample(tmp_path / "a", PARTNERS_DIR, seed=1, **args)
    generate_sample(tmp_path / "b", PARTNERS_DIR, seed=2, **args)
    first, second = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert first.keys() == second.keys()
    for name in first:
        if "/telephony/" in name and "phonenow" not in name:
            assert first[name] != second[name], name


# ---------------------------------------------------------------- formats


def test_report_counts_files_and_rows(landing: Path) -> None:
    summary = (landing / "_summary.txt").read_text(encoding="utf-8")
    for code in [*GENERATED, "phonenow"]:
        assert code in summary
    assert "phonenow" not in GENERATED  # no generator block: only its real export is copied
    copied = landing / "phonenow" / "telephony" / "pwc_phonenow_calls.csv"
    original = REALDATA / "phonenow" / "telephony" / "pwc_phonenow_calls.csv"
    assert copied.read_bytes() == original.read_bytes()


def test_file_names_follow_period_patterns(landing: Path) -> None:
    days = (END_MONTH.replace(month=END_MONTH.month + 1) - dt.date(2025, 2, 1)).days
    for code in GENERATED:
        source = telephony(code)
        names = [p.name for p in files_of(landing, code)]
        daily = CONFIGS[code]["generator"].get("file_grain") == "day"
        assert len(names) == (days if daily else MONTHS), code
        periods = set()
        for name in names:
            assert fnmatch.fnmatch(name, source["files"]), name
            match = re.search(source["period_pattern"], name)
            assert match, name
            periods.add(tuple(int(v) for v in match.groups()))
        assert len(periods) == len(names)


@pytest.mark.parametrize("code", GENERATED)
def test_files_parse_with_the_declared_format(landing: Path, code: str) -> None:
    source = telephony(code)
    expected_header = list(source["columns"].values())
    outcome_codes = {str(k) for k in source["outcome_codes"]}
    queues = set(source["queues"])
    xlsx = source["format"]["type"] == "xlsx"
    for path in files_of(landing, code):
        header, rows = read_rows(path, source)
        assert header == expected_header, path.name
        assert all(len(row) == len(header) for row in rows), path.name
    rows = read_partner_rows(landing, code)
    for row in rows:
        values, kind = row["values"], row["kind"]
        assert values["queue"] in queues  # dirt never touches the queue
        if xlsx:
            for field in ("wait", "talk", "hold", "wrap"):
                assert values[field] is None or type(values[field]) is int
            assert all(isinstance(values[f], str) for f in ("queue", "outcome"))
            assert isinstance(values["call_id"], str) or kind == "missing_key"
        if kind in (None, "duplicate_call_id"):
            assert values["outcome"] in outcome_codes
            if xlsx:
                assert isinstance(values["started_at"], dt.datetime)
            else:
                strptime(values["started_at"], source["timestamp_format"])
    by_id: dict[str, list[dict]] = {}
    for row in rows:
        if row["values"]["call_id"]:
            by_id.setdefault(row["values"]["call_id"], []).append(row)
    for call_id, repeats in by_id.items():  # ids repeat only in re-sends within one file
        assert len({r["file"] for r in repeats}) == 1, call_id
        assert sum(r["kind"] is None for r in repeats) <= 1, (call_id, repeats)


# ---------------------------------------------------------------- dirt


def test_sample_files_carry_a_little_dirt_of_every_kind(
    generated: tuple[Path, GenerateReport],
) -> None:
    landing, report = generated
    rows = {code: read_partner_rows(landing, code) for code in GENERATED}
    dirty = [(code, r) for code, partner_rows in rows.items() for r in partner_rows if r["kind"]]
    kinds = Counter(r["kind"] for _, r in dirty)
    assert kinds == Counter({k: n for k, n in report.dirt_by_kind().items() if n})
    assert all(kinds[kind] >= 2 for kind in KINDS), kinds
    total = sum(len(partner_rows) for partner_rows in rows.values())
    assert total / 10_000 < len(dirty) < total / 2_000, (len(dirty), total)  # about 1 in 5,000
    assert {code for code, _ in dirty} == set(GENERATED)  # spread over partners and months
    months = Counter(file_month(code, r["file"]) for code, r in dirty)
    assert len(months) == MONTHS and max(months.values()) < len(dirty) / 2, months

    for partner_rows in rows.values():
        first_clean = {}
        for r in partner_rows:
            if r["kind"] is None:
                first_clean.setdefault(r["values"]["call_id"], r)
        for r in partner_rows:
            if r["kind"] == "duplicate_call_id":  # an exact re-send of an earlier row
                original = first_clean[r["values"]["call_id"]]
                assert (original["file"], original["cells"]) == (r["file"], r["cells"])
                assert original["row"] < r["row"]
    resent = [
        (code, r["kind"])
        for code, r in dirty
        if r["kind"] in RESENDABLE
        and any(
            o["kind"] is None
            and o["values"]["call_id"] == r["values"]["call_id"]
            and o["row"] > r["row"]
            and o["file"] == r["file"]
            for o in rows[code]
        )
    ]
    assert resent, "some dirty rows are re-sent corrected later in the file"


def test_dirt_keeps_each_partners_own_style(landing: Path) -> None:
    for code in GENERATED:
        source = telephony(code)
        for r in read_partner_rows(landing, code):
            values = r["values"]
            if r["kind"] == "negative_duration" and source["format"]["type"] == "csv":
                negative = [
                    values[f]
                    for f in ("wait", "talk", "hold", "wrap")
                    if str(values[f] or "").startswith("-")
                ]
                style = source.get("duration_format", "seconds")
                pattern = r"-\d+:[0-5]\d:[0-5]\d" if style == "hms" else r"-\d+"
                assert negative and all(re.fullmatch(pattern, v) for v in negative), values
            if r["kind"] == "unknown_outcome_code":
                assert values["outcome"].upper() == values["outcome"]
                known = {str(c).casefold() for c in source["outcome_codes"]}
                assert values["outcome"].casefold() not in known


@pytest.mark.parametrize("code", GENERATED)
def test_bad_timestamps_are_garbage_or_out_of_range(code: str) -> None:
    fmt = telephony(code)["timestamp_format"]
    for variant in range(3):
        text = bad_timestamp_text(fmt, variant, 2024)
        try:
            parsed = strptime(text, fmt)
        except ValueError:
            assert variant in (0, 1), text
        else:
            assert variant == 2 and parsed.date() < EARLIEST, text
    assert bad_timestamp_text("%d/%m/%Y %H:%M", 0, 2024) == "31/02/2024 25:61"


def test_cp1252_partner_writes_windows_1252_behind_a_bom(landing: Path) -> None:
    code = next(c for c in GENERATED if telephony(c)["format"].get("encoding") == "cp1252")
    data = files_of(landing, code)[0].read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "–".encode("cp1252") in data and "£".encode("cp1252") in data  # 0x96, 0xA3
    with pytest.raises(UnicodeDecodeError):
        data[3:].decode("utf-8")


def test_durations_follow_the_outcome(calls: dict[str, list[dict]]) -> None:
    for code, partner_calls in calls.items():
        for call in partner_calls:
            outcome = call["outcome"]
            if outcome == "ivr_only":
                assert call["wait"] is call["talk"] is call["hold"] is call["wrap"] is None
            elif outcome == "abandoned":
                assert call["wait"] is not None and call["talk"] is None, code
            elif outcome in ("answered", "direct_dial"):
                assert None not in (call["wait"], call["talk"], call["hold"], call["wrap"])
            if outcome == "direct_dial":
                assert 0 <= call["wait"] <= 10


def test_format_timestamps_matches_strftime() -> None:
    seconds = np.array([0, 86_399, 1_711_846_800, 1_743_300_000], dtype=np.int64)
    epoch = dt.datetime(1970, 1, 1)
    for fmt in ("%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%SZ", "%H:%M %d.%m.%y", "%Y%m%d"):
        expected = [(epoch + dt.timedelta(seconds=int(s))).strftime(fmt) for s in seconds]
        assert format_timestamps(seconds, fmt).tolist() == expected


# ---------------------------------------------------------------- realism


def test_good_partner_answers_faster_than_poor_partner(calls: dict[str, list[dict]]) -> None:
    profile = {code: CONFIGS[code]["generator"]["staffing_profile"] for code in GENERATED}
    good = next(code for code in GENERATED if profile[code] == "good")
    poor = next(code for code in GENERATED if profile[code] == "poor")
    good_tsf, good_abandon, _ = service_level(calls[good])
    poor_tsf, poor_abandon, _ = service_level(calls[poor])
    assert good_tsf > 0.8
    assert good_tsf > poor_tsf + 0.1
    assert poor_abandon > 0.08 and poor_abandon > good_abandon


def test_council_tax_calls_peak_in_march(calls: dict[str, list[dict]]) -> None:
    by_month: Counter[int] = Counter()
    for code, partner_calls in calls.items():
        council_tax = {q for q, line in telephony(code)["queues"].items() if line == "council_tax"}
        by_month.update(c["started_at"].month for c in partner_calls if c["queue"] in council_tax)
    assert by_month[3] > 1.4 * by_month[2]


def test_queue_calls_only_while_open(calls: dict[str, list[dict]]) -> None:
    holidays = load_bank_holidays(HOLIDAYS_CSV).dates
    for code, partner_calls in calls.items():
        hours = {
            WEEKDAYS.index(day): tuple(dt.time.fromisoformat(t) for t in window)
            for day, window in CONFIGS[code]["opening_hours"].items()
        }
        closed_message = 0
        for call in partner_calls:
            start = call["started_at"]
            window = None if start.date() in holidays else hours.get(start.weekday())
            is_open = window is not None and window[0] <= start.time() < window[1]
            if call["outcome"] in QUEUE_OUTCOMES | EXCLUDED_OUTCOMES:
                assert is_open, (code, call)
            if not is_open:
                assert call["outcome"] == "ivr_only", (code, call)
                closed_message += 1
        share = closed_message / len(partner_calls)
        assert 0.01 < share < 0.08, (code, share)  # evenings, weekends, bank holidays


def test_bank_holidays_are_closed(calls: dict[str, list[dict]]) -> None:
    for partner_calls in calls.values():
        on_good_friday = [
            c for c in partner_calls if c["started_at"].date() == dt.date(2025, 4, 18)
        ]
        assert on_good_friday and {c["outcome"] for c in on_good_friday} == {"ivr_only"}


def test_there_are_short_and_long_abandons(calls: dict[str, list[dict]]) -> None:
    for code, partner_calls in calls.items():
        waits = [c["wait"] for c in partner_calls if c["outcome"] == "abandoned"]
        assert any(w < 5 for w in waits), code
        assert any(w >= 30 for w in waits), code


def test_monday_is_busier_than_friday(calls: dict[str, list[dict]]) -> None:
    northmoor = Counter(c["started_at"].weekday() for c in calls["northmoor"])
    assert northmoor[0] > northmoor[4]


def test_direct_dial_extract_holds_the_simulated_direct_dials(landing: Path) -> None:
    """A partner with `sources.direct_dial` and no direct_dial outcome code: its telephony
    files carry no direct dial, and its extract holds every simulated direct dial (local
    times), one row each, but for the dirt rows (no id, or a time that does not parse)."""
    codes = [c for c in GENERATED if "direct_dial" in CONFIGS[c]["sources"]]
    assert codes
    epoch = dt.date(1970, 1, 1)
    first = dt.date(END_MONTH.year, END_MONTH.month, 1)
    for _ in range(MONTHS - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    last = (dt.date(END_MONTH.year, END_MONTH.month, 28) + dt.timedelta(days=4)).replace(day=1)
    for code in codes:
        spec = load_partner_spec(PARTNERS_DIR / f"{code}.yml")
        assert spec.generator.direct_dial_extract
        assert "direct_dial" not in telephony(code)["outcome_codes"].values()
        simulated = simulate_partner(spec, np.arange((first - epoch).days, (last - epoch).days),
                                     load_bank_holidays(HOLIDAYS_CSV), seed=42, scale=SCALE)
        expected = Counter(dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(s))
                           for s in simulated.local_seconds[simulated.outcome == DIRECT_DIAL])
        source = CONFIGS[code]["sources"]["direct_dial"]
        fmt, columns = source["format"], source["columns"]
        found, dirty, files = Counter(), 0, sorted((landing / code / "direct_dial").iterdir())
        assert len(files) == MONTHS
        for path in files:
            header, rows = read_rows(path, source)
            for row in rows:
                values = dict(zip(header, row, strict=True))
                call_id, started = values[columns["call_id"]], values[columns["started_at"]]
                if not call_id or started == BAD_TIME:
                    dirty += 1
                    continue
                found[strptime(started, source["timestamp_format"])] += 1
        assert fmt["type"] == "csv" and dirty >= 1
        assert not found - expected and sum(expected.values()) - sum(found.values()) == dirty


def test_utc_partner_converts_back_to_local_time_across_the_clock_change(landing: Path) -> None:
    code = next(c for c in GENERATED if telephony(c).get("timestamp_zone") == "utc")
    source = telephony(code)
    spec = load_partner_spec(PARTNERS_DIR / f"{code}.yml")
    epoch = dt.date(1970, 1, 1)
    day_numbers = np.arange((dt.date(2025, 2, 1) - epoch).days, (dt.date(2025, 5, 1) - epoch).days)
    simulated = simulate_partner(
        spec, day_numbers, load_bank_holidays(HOLIDAYS_CSV), seed=42, scale=SCALE
    )
    # a partner with a direct-dial extract: its direct dials are in the extract, not here
    in_telephony = ~((simulated.outcome == DIRECT_DIAL) & spec.generator.direct_dial_extract)
    expected = [
        dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(s))
        for s in simulated.local_seconds[in_telephony]
    ]
    # UTC in the file, back to the simulated local wall-clock time: every usable start time is
    # a simulated one; only bad timestamps never re-sent corrected are lost.
    zone = ZoneInfo(CONFIGS[code]["timezone"])
    rows = read_partner_rows(landing, code)
    found, seen = [], set()
    for row in rows:
        call_id = row["values"]["call_id"]
        if row["kind"] in ("bad_timestamp", "duplicate_call_id") or (call_id and call_id in seen):
            continue
        seen.add(call_id)
        found.append(to_local(row["values"]["started_at"], source, zone))
    lost = sum(r["kind"] == "bad_timestamp" and r["values"]["call_id"] not in seen for r in rows)
    assert not Counter(found) - Counter(expected)
    assert len(expected) - len(found) == lost

    # Opening at 08:00 local is 08:00 UTC in February (GMT) and 07:00 UTC in April (BST).
    first_answer_hour: dict[str, int] = {}
    for row in rows:
        if row["kind"] is None and source["outcome_codes"][row["values"]["outcome"]] == "answered":
            hour = strptime(
                row["values"]["started_at"], source["timestamp_format"]
            ).hour
            first_answer_hour[row["file"]] = min(first_answer_hour.get(row["file"], 24), hour)
    assert list(first_answer_hour.values()) == [8, 7, 7]


# ---------------------------------------------------------------- queue mechanics


def test_fcfs_queue_with_patience() -> None:
    # one agent 0..1000 s; calls at 0, 10, 20 each needing 100 s
    delays, answered = fcfs_with_patience(
        arrivals=[0.0, 10.0, 20.0],
        limits=[50.0, 200.0, 30.0],
        service=[100.0, 100.0, 100.0],
        shift_starts=[0.0],
        shift_ends=[1000.0],
    )
    assert answered == [True, True, False]  # the third would wait 180 s > 30 s and abandons
    assert delays[:2] == [0.0, 90.0]


def test_fcfs_queue_agents_leave_after_their_shift() -> None:
    delays, answered = fcfs_with_patience(
        arrivals=[0.0, 50.0, 150.0],
        limits=[500.0, 500.0, 500.0],
        service=[100.0, 100.0, 100.0],
        shift_starts=[0.0, 120.0],
        shift_ends=[60.0, 1000.0],
    )
    # agent 1 leaves at 60 s after one call; the second caller waits for agent 2 (120 s)
    assert answered == [True, True, True]
    assert delays == [0.0, 70.0, 70.0]


# ---------------------------------------------------------------- bank holidays reference


def test_bank_holiday_reference_is_sorted_and_matches_the_holidays_package() -> None:
    with HOLIDAYS_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["holiday_date", "holiday_name"]
    dates = [row[0] for row in rows[1:]]
    assert dates == sorted(dates) and dates[0].startswith("2018") and dates[-1].startswith("2030")
    assert [tuple(row) for row in rows[1:]] == england_and_wales_bank_holidays()


def test_hub_generate_says_how_to_build_its_files_at_once(tmp_path) -> None:
    """`hub generate` writes whole files, which a plain `hub build` would leave waiting for the
    settle interval (an empty first build): it says so, with the interval and the command."""
    from tests.conftest import hub, hub_env

    env = hub_env(tmp_path / "data", HUB_SETTLE_SECONDS="45")
    out = hub(env, "generate", "--months", "1", "--scale", "0.01").stdout
    assert ("these files are whole: `HUB_SETTLE_SECONDS=0 hub build` loads them now; a plain "
            "`hub build` leaves them waiting until they are 45 s old (HUB_SETTLE_SECONDS)") in out
