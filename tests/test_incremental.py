"""`hub build` on a warehouse already built, one sequence of builds on a copy of the session
warehouse (module fixture `rebuilds`), each test checking its part:

1. incremental builds: a month withdrawn, then delivered again with a contact that merges two
   stored customers; then one partner-month re-delivered with different rows (calls dropped,
   outcomes changed, a call moved into the next month, a duplicated call id; contacts dropped
   and residents merged through a shared phone number; voicemails, reception tickets and web
   rows changed, dropped, moved and repeated; another partner's direct-dial extract of the same
   month with rows dropped and an id repeated), the merging contact withdrawn (the customers
   split) and another partner's YAML changed (its name: a model reading only configuration is
   rebuilt), checked against independent recomputations of the CRM and service-standard
   figures;
2. `hub build` with nothing new: no dbt work, the published files untouched;
3. a stray landing folder no partner owns, `hub build --strict`: refused, files untouched;
4. a copy of the dbt project with a broken model (`HUB_HOME`): the build fails inside dbt, the
   published files untouched, a reader keeps reading them (a broken partner YAML no longer
   gets that far: it is refused before loading, test_partner_schema.py);
5. the repository's project again, `hub build` (not strict): a full build (the failed one may
   have left some tables updated and others not) that reports the stray folder and publishes
   while the reader still holds the old file open. It is a build from scratch of the landing
   files the incremental builds left: every table of the marts schema (lineage columns naming
   a load aside) and every contact's customer id equal what the incremental builds served.

(Two builds from scratch of the same files are compared in tests/test_build_safety.py.)
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import yaml

import tests.test_crm_kpis_recomputed as crm_recomputed
import tests.test_service_standards_recomputed as standards_recomputed
from dagster_project import duck
from dagster_project.build import CHECK_WITHOUT_RESULT
from dagster_project.settings import REPO_ROOT
from tests.conftest import PARTNERS_DIR, REALDATA_DIR, copy_data_dir, hub, hub_env, settings_of
from tests.marts_compare import differences, marts_rows
from tests.reference_service_standards import compute as compute_standards
from tests.test_build import sha256

LAST_MONTH = re.compile(r"2024[-_]?04|04-2024")


def _rewrite(path: Path, change, delimiter: str = ";") -> None:
    """Rewrite a delimited file in place through change(header, rows) -> rows."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=delimiter))
    header, body = rows[0], rows[1:]
    body = change(header, body)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)


def _redeliver_calls(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    ref, start, result = (header.index(c) for c in ("Call Ref", "Call Start", "Result"))
    answered = [r for r in rows if r[result] == "A"]
    for r in answered[:25]:
        r[result] = "AB"  # answered calls now abandoned
    answered[30][start] = "01/04/2024 00:30:00"  # a call moved into April
    rows.append(list(answered[40]))
    rows[-1][ref] = rows[0][ref]  # a second row with an existing call id
    return [r for i, r in enumerate(rows) if i % 17 != 5]  # about 6 % of the calls dropped


def _redeliver_contacts(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    phone = header.index("Telephone")
    with_phone = [r for r in rows if r[phone]]
    # two residents now share a phone number: their customers merge, across months
    for r in with_phone[1:4]:
        r[phone] = with_phone[0][phone]
    return [r for i, r in enumerate(rows) if i % 23 != 7]


def _redeliver_voicemails(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    ref, left, back = (header.index(c) for c in ("Message Ref", "Received", "Call Back"))
    for r in rows[:5]:
        r[back] = ""  # never responded after all
    rows[6][left] = "01/04/2024 08:15:00"  # a message moved into April
    rows[6][back] = ""
    rows.append(list(rows[8]))
    rows[-1][ref] = rows[0][ref]  # a second row with an existing message id
    return [r for i, r in enumerate(rows) if i % 11 != 3]


def _redeliver_tickets(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    called, finished = header.index("Called"), header.index("Finished")
    for r in rows[:20]:
        r[called] = ""  # walk-outs
        r[finished] = ""
    return [r for i, r in enumerate(rows) if i % 13 != 2]


def _redeliver_web(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    visits = header.index("Visits")
    for r in rows[:30]:
        r[visits] = str(int(r[visits]) * 2) if r[visits].isdigit() else r[visits]
    return [r for i, r in enumerate(rows) if i % 7 != 1]


def _redeliver_direct_dial(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    ref = header.index("Call Ref")
    rows.append(list(rows[5]))
    rows[-1][ref] = rows[0][ref]  # a second row with an existing call id
    return [r for i, r in enumerate(rows) if i % 9 != 4]  # about 11 % of the calls dropped


DIRECT_DIAL = ("highcross", "direct_dial", "highcross-switchboard-2024-03.csv")


def _direct_dial_months(serving: Path) -> dict[tuple[str, dt.date], tuple]:
    """(partner, month) -> the direct-dial figures of the served kpi_telephony_monthly."""
    with duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select partner_code, month, direct_dial_extract_calls, "
                           "csc_call_share_numerator, csc_call_share_denominator "
                           "from marts.kpi_telephony_monthly").fetchall()
    return {(partner, month): rest for partner, month, *rest in rows}


def _april_calls(serving: Path) -> int:
    con = duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select count(*) from marts.fct_calls "
                           "where call_month = date '2024-04-01'").fetchone()[0]
    finally:
        con.close()


def _eastbrook_weeks(data: Path) -> dict[dt.date, bool]:
    """Monday -> is_complete of eastbrook's weeks in the served kpi_telephony_weekly."""
    with duckdb.connect(str(data / "serving" / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.execute("select week_start_date, is_complete "
                                "from marts.kpi_telephony_weekly "
                                "where partner_code = 'eastbrook'").fetchall())


def _ops(data: Path):
    return marts_rows(data / "serving" / "operations.duckdb")


def _crm_rows(data: Path, partner: str) -> tuple[int, int]:
    """(raw rows, fct_contacts rows) of a partner in the working file."""
    con = duck.connect_work(data / "work" / "warehouse.duckdb", read_only=True)
    try:
        return con.execute(
            "select (select count(*) from raw.crm_contacts where partner_code = $1), "
            "(select count(*) from marts.fct_contacts where partner_code = $1)",
            [partner]).fetchone()
    finally:
        con.close()


def _check_against_recomputation(landing: Path, serving: Path, partners_dir: Path) -> None:
    """The CRM and service-standard marts of the published files in `serving` equal an
    independent recomputation from the landing folder (tests/reference_crm.py,
    tests/reference_service_standards.py): row accounting, scorecard, contact monthly, row
    fates, KPIs."""
    ref = crm_recomputed.compute(landing, partners_dir)
    with (duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True) as marts,
          duckdb.connect(str(serving / "operations.duckdb"), read_only=True) as operations):
        crm_recomputed.test_crm_row_accounting(operations, marts, ref)
        crm_recomputed.test_crm_scorecard_rows_are_the_same(marts, ref)
        crm_recomputed.test_crm_scorecard_matches_recomputation(marts, ref)
        crm_recomputed.test_contact_monthly_matches_recomputation(marts, ref)
        standards = compute_standards(landing, partners_dir, crm=ref)
        standards_recomputed.check_row_fates(standards, operations)
    standards_recomputed.check_kpis(standards, serving / "warehouse.duckdb")


CALLS = "select count(*) from marts.fct_calls"
STRAY = "landing folder 'newtown' has no partner configuration"

FileState = tuple[int, int, str]  # inode, mtime (ns), sha-256


@dataclass
class Rebuilds:
    data: Path
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    seen: dict[str, object] = field(default_factory=dict)  # what the incremental steps left
    initial: list[FileState] = field(default_factory=list)  # published after the incremental
    calls: int = 0  # marts.fct_calls rows served after the incremental builds
    after: dict[str, list[FileState]] = field(default_factory=dict)
    reader_calls: dict[str, int] = field(default_factory=dict)  # read through the old file
    fresh_calls: int | None = None  # read through a new connection after step 5
    incremental: Path | None = None  # a copy of the files the incremental builds published


@pytest.fixture(scope="module")
def rebuilds(built_warehouse, tmp_path_factory) -> Rebuilds:
    root = tmp_path_factory.mktemp("rebuilds")
    data = copy_data_dir(built_warehouse.data_dir, root / "data")
    seq = Rebuilds(data=data)
    _incremental_builds(seq, built_warehouse, root)
    seq.incremental = Path(shutil.copytree(data / "serving", root / "incremental",
                                           ignore=shutil.ignore_patterns("published")))
    env = hub_env(data, HUB_PARTNERS_DIR=str(root / "partners"))  # westvale renamed
    published = [data / "serving" / "warehouse.duckdb", data / "serving" / "operations.duckdb"]

    def state() -> list[FileState]:
        return [(p.stat().st_ino, p.stat().st_mtime_ns, sha256(p)) for p in published]

    reader = duckdb.connect(str(published[0]), read_only=True)
    try:
        seq.initial, seq.calls = state(), reader.execute(CALLS).fetchone()[0]

        def step(name: str, run_env: dict[str, str], *args: str) -> None:
            seq.runs[name] = hub(run_env, "build", *args, check=False)
            seq.after[name] = state()
            seq.reader_calls[name] = reader.execute(CALLS).fetchone()[0]

        step("nothing_new", env)
        stray = data / "landing" / "newtown" / "telephony" / "calls.csv"
        stray.parent.mkdir(parents=True)
        stray.write_text("a,b\n1,2\n")
        step("strict", env, "--strict")
        # a build that fails inside dbt: a copy of the project whose staging model of the
        # partners' source configuration reads a relation that does not exist (a partner YAML
        # error would stop it before loading). dbt builds what does not depend on it (seeds,
        # other staging and intermediate models: some tables updated, others not) and skips
        # the rest, about three quarters of the project: a failure costs less than a build
        broken = root / "home"
        for folder in ("dbt", "seeds"):
            shutil.copytree(REPO_ROOT / folder, broken / folder,
                            ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
        # with the project's partial parse, as a working copy has it: dbt parses again only
        # the model changed below (about 2 CPU-seconds less than a parse of every file)
        parse = REPO_ROOT / "dbt" / "target" / "partial_parse.msgpack"
        if parse.exists():
            (broken / "dbt" / "target").mkdir()
            shutil.copy2(parse, broken / "dbt" / "target" / parse.name)
        model = (broken / "dbt" / "models" / "staging" / "partner_config"
                 / "stg_partner_config__sources.sql")
        assert model.read_text().count("select * from final") == 1
        model.write_text(model.read_text().replace("select * from final",
                                                   "select * from final_missing"))
        step("failed", {**env, "HUB_HOME": str(broken)})
        step("recovered", env)
    finally:
        reader.close()
    # the stray folder out again: the landing folder the incremental builds were made of (the
    # recomputations read it)
    shutil.rmtree(stray.parent.parent)
    with duckdb.connect(str(published[0]), read_only=True) as fresh:
        seq.fresh_calls = fresh.execute(CALLS).fetchone()[0]
    seq.seen["recovered_customers"] = _customers(data)
    return seq


def _incremental_builds(seq: Rebuilds, built_warehouse, root: Path) -> None:
    """Step 1: three incremental builds; what each left is recorded in `seq.seen`."""
    data, seen = seq.data, seq.seen
    env = hub_env(data)
    landing, held = data / "landing", root / "held"
    with_phone, with_email = _two_separate_customers(data)
    seen["with_phone"], seen["with_email"] = with_phone, with_email
    seen["before"] = _customers(data)
    last_month = [p for p in landing.rglob("*") if p.is_file() and LAST_MONTH.search(p.name)]
    seen["last_month"] = len(last_month)
    for path in last_month:
        target = held / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)

    # 1. withdrawn
    seq.runs["withdrawn"] = hub(env, "build")
    seen["april_calls"] = _april_calls(data / "serving")
    seen["weeks_withdrawn"] = _eastbrook_weeks(data)

    # 2. delivered again, with a contact that merges two stored customers
    shutil.copytree(held, landing, dirs_exist_ok=True)
    april = landing / "eastbrook" / "crm" / "eastbrook_crm_2024_04.csv"
    original_april = april.read_bytes()
    _rewrite(april, _bridging_contact(april, with_phone, with_email))
    seq.runs["added"] = hub(env, "build")
    seen["weeks_added"] = _eastbrook_weeks(data)
    seen["merged"], seen["relabelled"] = _customers(data), _relabelled(data)

    # 3. a re-delivered month and the bridging contact withdrawn (the customers split)
    seen["crm_rows_before"] = _crm_rows(data, "eastbrook")
    _rewrite(landing / "eastbrook" / "telephony" / "EB_Telephony_202403.csv", _redeliver_calls)
    _rewrite(landing / "eastbrook" / "crm" / "eastbrook_crm_2024_03.csv", _redeliver_contacts)
    for folder, name, change in (("voicemail", "EB_Voicemail_202403.csv", _redeliver_voicemails),
                                 ("reception", "EB_Reception_202403.csv", _redeliver_tickets),
                                 ("web", "EB_Web_202403.csv", _redeliver_web)):
        _rewrite(landing / "eastbrook" / folder / name, change)
    # another partner's direct-dial extract of March re-delivered: rows dropped, an id repeated
    _rewrite(landing.joinpath(*DIRECT_DIAL), _redeliver_direct_dial, delimiter=",")
    seen["direct_dial_before"] = _direct_dial_months(data / "serving")
    april.write_bytes(original_april)
    renamed = _renamed(built_warehouse.partners_dir, root / "partners")
    seq.runs["redelivered"] = hub(hub_env(data, HUB_PARTNERS_DIR=str(renamed)), "build")
    seen["direct_dial_after"] = _direct_dial_months(data / "serving")
    seen["partner_names"] = _partner_names(data)
    seen["crm_rows_after"] = _crm_rows(data, "eastbrook")
    seen["split"] = _customers(data)
    seen["incremental_ops"] = _ops(data)
    seen["scratch_tables"] = _scratch_tables(data)


def test_incremental_builds(rebuilds, built_warehouse):
    """The three incremental builds:

    1. April withdrawn (every partner's files of the month removed from the landing folder);
    2. April delivered again, with one extra eastbrook contact sharing a phone with one stored
       January customer and an email with another: the two customers merge (the later one
       takes the earlier one's id and records its previous id);
    3. eastbrook's March re-delivered with changes (calls dropped, outcomes changed, a call
       moved into April, a duplicated call id; contacts dropped and residents merged through a
       shared phone; voicemails unanswered, dropped, moved into April and a repeated id;
       reception walk-outs and dropped tickets; web visits changed and rows dropped),
       highcross's direct-dial extract of March (rows dropped, an id repeated: its March
       direct-dial figures change, no other month's) and April's original CRM file again
       (the bridging contact withdrawn: the two customers split), and westvale's YAML renamed:
       the re-delivered rows replace the old ones (never old + new) and the new name is
       served.

    Along the way, the ISO weeks touching April turn partial when it is withdrawn and complete
    again when it is delivered (a week touching a changed month is redone).
    """
    seen, runs = rebuilds.seen, rebuilds.runs
    with_phone, with_email = seen["with_phone"], seen["with_email"]
    before = seen["before"]
    first, second = before[f"eastbrook:{with_phone}"], before[f"eastbrook:{with_email}"]
    assert first != second
    assert seen["last_month"] > 10

    # 1. withdrawn
    withdrawn = runs["withdrawn"]
    assert "withdrawn: the file is no longer in the landing folder" in withdrawn.stdout
    assert "dbt: incremental build: deliveries" in withdrawn.stdout, withdrawn.stdout
    # April's calls are gone, but for a few a March file holds (UTC times: local April 1st)
    assert seen["april_calls"] < _april_calls(built_warehouse.serving_db.parent) / 100
    # weeks reaching into April (no longer delivered) are partial, March's whole weeks complete
    weeks = seen["weeks_withdrawn"]
    assert weeks[dt.date(2024, 3, 25)] is True
    assert not any(complete for monday, complete in weeks.items()
                   if monday >= dt.date(2024, 4, 1))

    # 2. delivered again, with a contact that merges two stored customers
    added = runs["added"]
    assert f"deliveries {seen['last_month']} new" in added.stdout, added.stdout
    # the weeks touching April were redone: complete again, but for the one reaching into May
    weeks = seen["weeks_added"]
    assert weeks[dt.date(2024, 4, 1)] is True and weeks[dt.date(2024, 4, 29)] is False
    merged = seen["merged"]
    assert merged[f"eastbrook:{with_phone}"] == merged[f"eastbrook:{with_email}"]
    assert merged[f"eastbrook:{with_phone}"] in (first, second)
    later = second if merged[f"eastbrook:{with_phone}"] == first else first
    assert {c for c, customer in before.items() if customer == later} <= {
        c for c, customer in seen["relabelled"].items() if customer == later}

    # 3. a re-delivered month and the bridging contact withdrawn (the customers split)
    redelivered = runs["redelivered"]
    assert "deliveries 7 replaced" in redelivered.stdout, redelivered.stdout
    assert "configuration changed: westvale" in redelivered.stdout, redelivered.stdout
    assert seen["partner_names"]["westvale"] == RENAMED
    rows_before, rows_after = seen["crm_rows_before"], seen["crm_rows_after"]
    assert rows_after[0] < rows_before[0] and rows_after[1] < rows_before[1], (
        f"eastbrook rows {rows_before} -> {rows_after}")
    # highcross's re-delivered direct-dial March changed its figures of March and no others
    dd_before, dd_after = seen["direct_dial_before"], seen["direct_dial_after"]
    march = ("highcross", dt.date(2024, 3, 1))
    assert dd_after[march][0] < dd_before[march][0], (dd_before[march], dd_after[march])
    assert {k: v for k, v in dd_after.items() if k != march and k[0] != "eastbrook"} == {
        k: v for k, v in dd_before.items() if k != march and k[0] != "eastbrook"}
    split = seen["split"]
    assert split[f"eastbrook:{with_phone}"] != split[f"eastbrook:{with_email}"]
    assert differences(seen["incremental_ops"], marts_rows(built_warehouse.operations_db))
    # the scratch tables of the incremental builds' pre-hooks were dropped by their post-hooks
    assert seen["scratch_tables"] == []


def test_incremental_figures_equal_the_independent_recomputations(rebuilds, built_warehouse):
    """What the incremental builds published: the CRM and service-standard marts equal
    independent recomputations from the landing files they were made of."""
    _check_against_recomputation(rebuilds.data / "landing", rebuilds.incremental,
                                 built_warehouse.partners_dir)


def test_incremental_builds_equal_a_build_from_scratch(rebuilds):
    """Step 5 rebuilt every dbt table from the files the incremental builds left: every marts
    table (the weekly figures, the benchmarks and the service standards included) and every
    contact's customer id equal what the incremental builds served."""
    recovered = rebuilds.runs["recovered"]
    assert "dbt: full build (the previous build did not finish)" in recovered.stdout
    assert rebuilds.seen["recovered_customers"] == rebuilds.seen["split"]
    assert differences(rebuilds.seen["incremental_ops"], _ops(rebuilds.data)) == []


def test_build_with_nothing_new_leaves_the_served_files_untouched(rebuilds):
    run = rebuilds.runs["nothing_new"]
    assert run.returncode == 0, run.stderr
    assert "hub build: nothing new" in run.stdout
    assert "dbt: nothing new since the last published build" in run.stdout
    assert "left untouched" in run.stdout
    # no Dagster warning that the skipped checks emitted nothing (build.CHECK_WITHOUT_RESULT)
    assert CHECK_WITHOUT_RESULT not in run.stderr, run.stderr
    assert rebuilds.after["nothing_new"] == rebuilds.initial


def test_rejected_files_are_reported_and_strict_mode_refuses_to_publish(rebuilds):
    strict = rebuilds.runs["strict"]
    assert strict.returncode == 1, strict.stderr
    assert STRAY in strict.stderr
    assert rebuilds.after["strict"] == rebuilds.initial

    lenient = rebuilds.runs["recovered"]
    assert lenient.returncode == 0, lenient.stderr
    assert f"rejected: {STRAY}" in lenient.stderr
    assert "hub build: published" in lenient.stdout
    assert rebuilds.after["recovered"][0][0] != rebuilds.initial[0][0]


def test_failed_build_keeps_the_last_good_serving_file(rebuilds):
    failed = rebuilds.runs["failed"]
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED" in failed.stderr and "left as they were" in failed.stderr
    assert "stg_partner_config__sources" in failed.stderr  # inside dbt, at the broken model
    assert rebuilds.after["failed"] == rebuilds.initial
    assert rebuilds.reader_calls["failed"] == rebuilds.calls > 0

    # The good build after it is a full one and publishes while the reader still holds the old
    # file open: the old reader keeps working and a new reader sees the new file.
    recovered = rebuilds.runs["recovered"]
    assert "dbt: full build (the previous build did not finish)" in recovered.stdout
    new, old = rebuilds.after["recovered"], rebuilds.initial
    assert new[0][0] != old[0][0] and new[1][0] != old[1][0]  # both files replaced
    assert rebuilds.reader_calls["recovered"] == rebuilds.calls
    assert rebuilds.fresh_calls == rebuilds.calls  # the same landing files, the same rows


def test_invalid_partner_configuration_is_a_clear_error(tmp_path):
    broken = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, broken)
    config = yaml.safe_load((broken / "eastbrook.yml").read_text())
    config["sources"]["telephony"]["timestamp_format"] = "%m-%d-%Q"
    (broken / "eastbrook.yml").write_text(yaml.safe_dump(config))
    data = tmp_path / "data"
    shutil.copytree(REALDATA_DIR, data / "landing")  # a tiny landing folder: never read
    result = hub(hub_env(data, HUB_PARTNERS_DIR=str(broken)), "build", check=False)
    assert result.returncode == 2
    assert "eastbrook.yml" in result.stderr
    assert "sources.telephony.timestamp_format: '%m-%d-%Q' is not a DuckDB strptime format" \
        in result.stderr


RENAMED = "Westvale Borough Council (renamed)"


def _renamed(partners_dir: Path, renamed: Path) -> Path:
    """A copy of the partner folder at `renamed` with westvale's name changed (its
    configuration only)."""
    shutil.copytree(partners_dir, renamed)
    path = renamed / "westvale.yml"
    text = path.read_text(encoding="utf-8")
    assert text.count("name: Westvale Borough Council\n") == 1
    path.write_text(text.replace("name: Westvale Borough Council\n", f"name: {RENAMED}\n"),
                    encoding="utf-8")
    return renamed


def _partner_names(data: Path) -> dict[str, str]:
    with duckdb.connect(str(data / "serving" / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.execute("select partner_code, partner_name from marts.dim_partner")
                    .fetchall())


def _customers(data: Path) -> dict[str, str | None]:
    """contact_id -> customer_id of int_customers__resolved in the working file."""
    con = duckdb.connect(str(settings_of(data).work_db), read_only=True)
    try:
        return dict(con.execute("select contact_id, customer_id "
                                "from intermediate.int_customers__resolved").fetchall())
    finally:
        con.close()


def _scratch_tables(data: Path) -> list[str]:
    """Tables of the working file named like a model's scratch table (<model>__<name>: the
    validation models' redone ids, customer identity's graph), which their post-hooks drop."""
    con = duckdb.connect(str(settings_of(data).work_db), read_only=True)
    try:
        names = con.execute("select table_name from information_schema.tables").fetchall()
    finally:
        con.close()
    return sorted(name for (name,) in names if name.count("__") > 1)


def _relabelled(data: Path) -> dict[str, str]:
    """contact_id -> previous_customer_id of the contacts the last build moved to another
    customer."""
    con = duckdb.connect(str(settings_of(data).work_db), read_only=True)
    try:
        return dict(con.execute("""
            select contact_id, previous_customer_id
            from intermediate.int_customers__resolved
            where changed_build_id = (select build_id from build.plan)
                and previous_customer_id is not null
        """).fetchall())
    finally:
        con.close()


def _two_separate_customers(data: Path) -> tuple[str, str]:
    """Two eastbrook January enquiries (one with a phone, one with an email) of two customers
    that have no contact in eastbrook's April delivery."""
    con = duckdb.connect(str(settings_of(data).work_db), read_only=True)
    try:
        rows = con.execute("""
            select contacts.enquiry_id, contacts.phone_key, contacts.email_key,
                resolved.customer_id
            from intermediate.int_contacts__validated as contacts
            inner join intermediate.int_customers__resolved as resolved
                on contacts.contact_id = resolved.contact_id
            where contacts.partner_code = 'eastbrook' and contacts.delivery_key = '2024-01'
                and resolved.customer_id not in (
                    select april.customer_id
                    from intermediate.int_customers__resolved as april
                    inner join intermediate.int_contacts__validated as april_contacts
                        on april.contact_id = april_contacts.contact_id
                    where april_contacts.partner_code = 'eastbrook'
                        and april_contacts.delivery_key = '2024-04'
                        and april.customer_id is not null)
            order by contacts.enquiry_id
        """).fetchall()
    finally:
        con.close()
    with_phone = next(r for r in rows if r[1] is not None)
    with_email = next(r for r in rows if r[2] is not None and r[3] != with_phone[3])
    return with_phone[0], with_email[0]


def _bridging_contact(april: Path, with_phone: str, with_email: str):
    """A change for _rewrite: one more April contact with the phone of January enquiry
    `with_phone` and the email of January enquiry `with_email` (no name, postcode or UPRN)."""

    def change(header: list[str], rows: list[list[str]]) -> list[list[str]]:
        ref, phone, email, name, postcode, uprn = (header.index(c) for c in (
            "Case Ref", "Telephone", "Email", "Customer Name", "Postcode", "UPRN"))
        with (april.parent / "eastbrook_crm_2024_01.csv").open(encoding="utf-8") as fh:
            january = {row[ref]: row for row in csv.reader(fh, delimiter=";")}
        bridge = list(rows[0])
        bridge[ref] = "EB-CAS-9999999"
        bridge[name] = bridge[postcode] = bridge[uprn] = ""
        bridge[phone] = january[with_phone][phone]
        bridge[email] = january[with_email][email]
        return [*rows, bridge]

    return change
