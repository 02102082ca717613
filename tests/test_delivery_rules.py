"""Delivery rules (issue 11, cases 3, 4, 6 and 9; docs/architecture.md "Delivery rules"):
symbolic links are never followed and no message quotes file content; a copy kept in a
subfolder never replaces the current delivery and loads never flip between two files of one
delivery key; a file still being written waits (settle time, `.done` markers); a re-delivery
with fewer than half the rows it replaces is held unless shrinking is accepted.

Real DuckDB, real files written by each test; the same rules through the real `hub build`
are checked in tests/test_ingest_rows.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dagster_project.ingest import load_source
from dagster_project.partners import load_partners
from dagster_project.settings import REPO_ROOT
from tests.conftest import copy_realdata
from tests.test_loader import (
    EASTBROOK_HEADER,
    eastbrook_file,
    eastbrook_rows,
    query,
    statuses,
    write,
)

# what a link to /etc/passwd would show in a message that quoted the file's first line
PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def eastbrook_csv(n: int, start: int = 1) -> str:
    return "\n".join([EASTBROOK_HEADER, *eastbrook_rows(n, start)]) + "\n"


def backdate(path: Path, seconds: float = 3600) -> Path:
    """Set the file's modification time `seconds` in the past (a file delivered earlier)."""
    when = time.time() - seconds
    os.utime(path, (when, when))
    return path


def events(settings) -> list[tuple[str, str, str]]:
    return query(settings, "select source_file, status, message from raw.load_events "
                           "order by event_at, source_file")


# --- case 3: symbolic links ---------------------------------------------------------------------

def test_links_are_never_followed_and_never_quoted(settings, partners, tmp_path):
    """A link to a good CSV elsewhere on disk, a link to a passwd-like file, a linked partner
    folder and a linked source folder: all rejected unread, nothing loaded, and no message (in
    the report or raw.load_events) quotes what the targets hold."""
    elsewhere = tmp_path / "elsewhere"
    good = write(elsewhere / "EB_Telephony_202403.csv", eastbrook_csv(20))
    secret = write(elsewhere / "passwd", PASSWD)
    landing = settings.landing_dir
    folder = landing / "eastbrook" / "telephony"
    folder.mkdir(parents=True)
    (folder / "EB_Telephony_202403.csv").symlink_to(good)
    (folder / "EB_Telephony_202404.csv").symlink_to(secret)
    write(elsewhere / "highcross" / "telephony" / "highcross-telephony-2024-03.csv", PASSWD)
    (landing / "highcross").symlink_to(elsewhere / "highcross")
    (landing / "northmoor").mkdir()
    (landing / "northmoor" / "telephony").symlink_to(elsewhere / "highcross" / "telephony")

    report = load_source(settings.work_db, landing, partners)
    assert statuses(report) == {
        "eastbrook/telephony/EB_Telephony_202403.csv": "rejected",
        "eastbrook/telephony/EB_Telephony_202404.csv": "rejected",
        "highcross": "rejected",
        "northmoor/telephony": "rejected"}
    for f in report.files:
        assert f.message.startswith(f"{f.rel_path}: a symbolic link: links are never followed")
    assert report.rows_loaded == 0
    assert query(settings, "select count(*) from raw.telephony_calls") == [(0,)]
    assert query(settings, "select count(*) from raw.load_files") == [(0,)]
    logged = events(settings)
    assert [(rel, status) for rel, status, _ in logged] == sorted(statuses(report).items())
    for text in [f.message for f in report.files] + [m for _, _, m in logged]:
        assert "root:" not in text and "EB00001" not in text and str(elsewhere) not in text


def test_a_loaded_file_replaced_by_a_link_is_withdrawn_not_followed(settings, partners, tmp_path):
    path = write(eastbrook_file(settings.landing_dir), eastbrook_csv(12))
    load_source(settings.work_db, settings.landing_dir, partners)
    outside = write(tmp_path / "outside.csv", eastbrook_csv(40, start=500))
    path.unlink()
    path.symlink_to(outside)
    report = load_source(settings.work_db, settings.landing_dir, partners)
    assert sorted(f.status for f in report.files) == ["rejected", "withdrawn"]
    assert query(settings, "select count(*) from raw.telephony_calls") == [(0,)]
    assert query(settings, "select count(*) from raw.load_files") == [(0,)]


def test_a_file_that_is_not_a_partner_file_is_rejected_without_quoting_it(settings, partners):
    """The leak behind case 3 was the header message: the first line of a file that is not
    the partner's is data, and only the configured header names may be quoted."""
    write(eastbrook_file(settings.landing_dir), PASSWD)
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "rejected"
    assert result.message.startswith("eastbrook/telephony/EB_Telephony_202403.csv: rejected: "
                                     "header lacks configured column(s) ['Call Ref', ")
    assert "found 1 column(s), of which configured: []" in result.message
    ((message,),) = query(settings, "select message from raw.load_events")
    assert message == result.message
    assert "root" not in message and "daemon" not in message and "bash" not in message


# --- case 4: delivery keys and subfolders -------------------------------------------------------

def test_an_older_copy_in_a_subfolder_never_replaces_the_current_delivery(settings, partners):
    """February and March are current; older, smaller copies of both sit in `superseded/`. The
    subfolder is not read, and a second and third load change nothing (no flip)."""
    landing = settings.landing_dir
    for month, start in (("202402", 1), ("202403", 5000)):
        current = write(eastbrook_file(landing, month), eastbrook_csv(300, start))
        old = write(current.parent / "superseded" / current.name, eastbrook_csv(100, start))
        backdate(old, 86400)
    first = load_source(settings.work_db, landing, partners)
    assert statuses(first) == {"eastbrook/telephony/EB_Telephony_202402.csv": "loaded",
                               "eastbrook/telephony/EB_Telephony_202403.csv": "loaded",
                               "eastbrook/telephony/superseded/": "ignored"}
    (ignored,) = [f for f in first.files if f.status == "ignored"]
    assert ignored.message == (
        "eastbrook/telephony/superseded/: subfolder ignored: only files directly in "
        "eastbrook/telephony/ are deliveries (an older copy kept in a subfolder never replaces "
        "the current delivery)")
    expected = [("2024-02", "eastbrook/telephony/EB_Telephony_202402.csv", 300),
                ("2024-03", "eastbrook/telephony/EB_Telephony_202403.csv", 300)]
    for _ in range(2):
        again = load_source(settings.work_db, landing, partners)
        assert sorted(f.status for f in again.files) == ["ignored", "unchanged", "unchanged"]
        assert query(settings, "select delivery_key, source_file, rows_read from raw.load_files "
                               "order by 1") == expected
        assert query(settings, "select count(*), count(distinct call_id) "
                               "from raw.telephony_calls") == [(600, 600)]
    assert not query(settings, "select * from raw.load_events where status = 'replaced'")


def test_an_unchanged_file_is_known_by_its_stamp_and_rehash_reads_it(settings, partners):
    """A landing file with the path, size and modification time of its stored delivery is not
    read again (a no-change build over thousands of files hashes nothing); a file whose time
    moved is hashed; `rehash` (`hub build --full-refresh`) hashes every file, so content
    changed behind a restored time is still found."""
    original = eastbrook_csv(50)
    path = backdate(write(eastbrook_file(settings.landing_dir, "202403"), original))

    def load(**kwargs) -> str:
        (result,) = load_source(settings.work_db, settings.landing_dir, partners, settle=0,
                                **kwargs).files
        return result.status

    assert load() == "loaded"
    stat = path.stat()
    assert query(settings, "select file_bytes, file_mtime_ns from raw.load_files") == [
        (stat.st_size, stat.st_mtime_ns)]
    # other content of the same size, the modification time put back: trusted, not read
    same_size = original.replace("0:04:10", "0:04:11", 1)
    assert len(same_size) == len(original) and same_size != original
    write(path, same_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load() == "unchanged"
    assert load(rehash=True) == "replaced"  # every file hashed: the new content is found
    # content changed with its time: hashed, replaced
    backdate(write(path, original.replace("0:04:10", "0:04:12", 1)), 1800)
    assert load() == "replaced"
    assert load() == "unchanged"


def test_delivery_key_without_a_period_is_the_path_in_the_source_folder(settings, partners):
    """PhoneNow's export has no period in its name: its key is its path relative to the source
    folder, and a truncated copy in a subfolder is not a second delivery."""
    copy_realdata(settings.landing_dir)
    export = settings.landing_dir / "phonenow" / "telephony" / "pwc_phonenow_calls.csv"
    lines = export.read_text(encoding="utf-8").splitlines()[:101]
    write(export.parent / "2021" / export.name, "\n".join(lines) + "\n")
    for _ in range(2):
        report = load_source(settings.work_db, settings.landing_dir, partners)
        assert {f.rel_path: f.status for f in report.files}[
            "phonenow/telephony/2021/"] == "ignored"
    assert query(settings, "select delivery_key, source_file, rows_loaded from raw.load_files"
                 ) == [("pwc_phonenow_calls.csv", "phonenow/telephony/pwc_phonenow_calls.csv",
                        5000)]
    assert query(settings, "select count(*) from raw.telephony_calls") == [(5000,)]


def test_two_files_claiming_one_delivery_key_load_neither_and_never_flip(settings, partners):
    landing = settings.landing_dir
    current = write(eastbrook_file(landing, "202402"), eastbrook_csv(300))
    load_source(settings.work_db, landing, partners)
    write(current.with_name("Copy of EB_Telephony_202402.csv"), eastbrook_csv(100, start=900))
    for _ in range(2):
        report = load_source(settings.work_db, landing, partners)
        assert statuses(report) == {
            "eastbrook/telephony/Copy of EB_Telephony_202402.csv": "rejected",
            "eastbrook/telephony/EB_Telephony_202402.csv": "rejected"}
        for f in report.files:
            assert f.message == (
                f"{f.rel_path}: delivery key '2024-02' is claimed by 2 files (Copy of "
                f"EB_Telephony_202402.csv, EB_Telephony_202402.csv); none of them is loaded "
                f"until only one remains")
        # the delivery loaded before stays as it was
        assert query(settings, "select source_file, rows_read from raw.load_files") == [
            ("eastbrook/telephony/EB_Telephony_202402.csv", 300)]
        assert query(settings, "select count(*), min(call_id) from raw.telephony_calls") == [
            (300, "EB00001")]


# --- case 6: quiet periods ----------------------------------------------------------------------

def test_a_file_still_being_written_waits_until_it_is_stable(settings, partners, monkeypatch):
    """512 of 3,000 rows copied: the file waits (not loaded, not rejected, the previous
    delivery kept); complete and unchanged for the settle interval, it loads whole."""
    monkeypatch.setenv("HUB_SETTLE_SECONDS", "60")
    landing = settings.landing_dir
    march = backdate(write(eastbrook_file(landing, "202403"), eastbrook_csv(50)))
    path = eastbrook_file(landing, "202404")
    full = eastbrook_csv(3000, start=100)
    lines = full.splitlines()
    write(path, "\n".join(lines[:513]) + "\n" + lines[513][:20])  # header, 512 rows, a part
    report = load_source(settings.work_db, landing, partners)
    assert statuses(report) == {"eastbrook/telephony/EB_Telephony_202403.csv": "loaded",
                                "eastbrook/telephony/EB_Telephony_202404.csv": "waiting"}
    (waiting,) = [f for f in report.files if f.status == "waiting"]
    assert waiting.message.startswith("eastbrook/telephony/EB_Telephony_202404.csv: waiting: "
                                      "modified ")
    assert "stable for 60 s (HUB_SETTLE_SECONDS)" in waiting.message
    assert "1 waiting" in report.summary()
    assert query(settings, "select source_file, rows_read from raw.load_files") == [
        ("eastbrook/telephony/EB_Telephony_202403.csv", 50)]
    assert query(settings, "select count(*) from raw.telephony_calls") == [(50,)]
    assert query(settings, "select status, message from raw.load_events "
                           "where source_file like '%202404%'") == [("waiting", waiting.message)]

    write(path, full)
    assert statuses(load_source(settings.work_db, landing, partners))[
        "eastbrook/telephony/EB_Telephony_202404.csv"] == "waiting"
    backdate(path, 61)
    report = load_source(settings.work_db, landing, partners)
    assert statuses(report)["eastbrook/telephony/EB_Telephony_202404.csv"] == "loaded"
    assert report.rows_loaded == 3000
    # a re-delivery being copied over March waits too: March's rows stay meanwhile
    write(march, eastbrook_csv(50)[:200])
    report = load_source(settings.work_db, landing, partners)
    assert statuses(report)["eastbrook/telephony/EB_Telephony_202403.csv"] == "waiting"
    assert query(settings, "select source_file, rows_read from raw.load_files order by 1") == [
        ("eastbrook/telephony/EB_Telephony_202403.csv", 50),
        ("eastbrook/telephony/EB_Telephony_202404.csv", 3000)]


def test_done_markers_when_the_partner_yaml_asks_for_them(settings, tmp_path):
    """`done_marker: true`: a file loads once `<file>.done` is beside it, however old the file;
    a marker older than the file (left from an earlier delivery) does not count; the marker is
    never a delivery itself."""
    partners_dir = tmp_path / "partners"
    partners_dir.mkdir()
    yml = (REPO_ROOT / "seeds" / "partners" / "eastbrook.yml").read_text(encoding="utf-8")
    assert "    files: \"*.csv\"\n    period_pattern: 'EB_" in yml
    (partners_dir / "eastbrook.yml").write_text(
        yml.replace("    files: \"*.csv\"\n    period_pattern: 'EB_",
                    "    files: \"*.csv\"\n    done_marker: true\n    period_pattern: 'EB_", 1),
        encoding="utf-8")
    partners = load_partners(partners_dir, REPO_ROOT / "seeds" / "reference")
    assert partners["eastbrook"].sources["telephony"].done_marker
    assert not partners["eastbrook"].sources["crm"].done_marker

    path = backdate(write(eastbrook_file(settings.landing_dir), eastbrook_csv(30)))
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.message) == (
        "waiting", "eastbrook/telephony/EB_Telephony_202403.csv: waiting for its marker "
                   "EB_Telephony_202403.csv.done (sources.telephony.done_marker: the file is "
                   "loaded once the partner writes the marker)")
    assert query(settings, "select count(*) from raw.load_files") == [(0,)]

    marker = write(path.with_name(path.name + ".done"), "")
    report = load_source(settings.work_db, settings.landing_dir, partners)
    assert statuses(report) == {"eastbrook/telephony/EB_Telephony_202403.csv": "loaded"}
    assert report.rows_loaded == 30

    backdate(marker, 7200)
    write(path, eastbrook_csv(40, start=100))  # a re-delivery, the old marker still there
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "waiting" and "older than the file" in result.message
    assert query(settings, "select rows_read from raw.load_files") == [(30,)]
    os.utime(marker)
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded) == ("replaced", 40)


def test_the_sensor_starts_a_build_only_once_a_file_is_stable(settings, partners, monkeypatch):
    from dagster_project.orchestration.automation import changed_partner_months

    monkeypatch.setenv("HUB_SETTLE_SECONDS", "60")
    path = write(eastbrook_file(settings.landing_dir), eastbrook_csv(5))
    changed, cursor = changed_partner_months(settings, partners, {})
    assert changed == set() and cursor == {}
    backdate(path, 61)
    changed, cursor = changed_partner_months(settings, partners, cursor)
    assert [p for p, _ in changed] == ["eastbrook"]
    assert list(cursor) == ["eastbrook/telephony/EB_Telephony_202403.csv"]


def test_settle_interval_must_be_a_number(settings, partners, monkeypatch):
    monkeypatch.setenv("HUB_SETTLE_SECONDS", "a minute")
    with pytest.raises(ValueError, match="HUB_SETTLE_SECONDS='a minute': expected a number"):
        load_source(settings.work_db, settings.landing_dir, partners)


# --- case 9: shrinking re-deliveries ------------------------------------------------------------

def test_a_shrinking_redelivery_is_held_unless_accepted(settings, partners, monkeypatch):
    monkeypatch.delenv("HUB_ACCEPT_SHRINK", raising=False)
    path = write(eastbrook_file(settings.landing_dir), eastbrook_csv(5000))
    load_source(settings.work_db, settings.landing_dir, partners)
    before = query(settings, "select file_hash, rows_read from raw.load_files")
    write(path, eastbrook_csv(100, start=7000))
    for _ in range(2):  # held at every load until someone decides
        (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
        assert (result.status, result.rows_loaded) == ("held", 0)
        assert result.message == (
            "eastbrook/telephony/EB_Telephony_202403.csv: held: 100 rows would replace a "
            "delivery of 5,000 rows (fewer than half); the previous delivery is kept. If the "
            "partner means it, run `hub build --accept-shrink` to apply it")
        assert query(settings, "select file_hash, rows_read from raw.load_files") == before
        assert query(settings, "select count(*), min(call_id) from raw.telephony_calls") == [
            (5000, "EB00001")]
        assert query(settings, "select status, message from raw.load_events "
                               "order by event_at desc limit 1") == [("held", result.message)]
    (result,) = load_source(settings.work_db, settings.landing_dir, partners,
                            accept_shrink=True).files
    assert (result.status, result.rows_loaded) == ("replaced", 100)
    assert query(settings, "select count(*), min(call_id) from raw.telephony_calls") == [
        (100, "EB07000")]
    assert query(settings, "select rows_read from raw.load_files") == [(100,)]
    # half or more is an ordinary re-delivery; HUB_ACCEPT_SHRINK (set by `hub build
    # --accept-shrink`) accepts a shrinking one
    write(path, eastbrook_csv(50, start=8000))
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded) == ("replaced", 50)
    write(path, eastbrook_csv(24, start=9000))
    assert load_source(settings.work_db, settings.landing_dir, partners).files[0].status == "held"
    monkeypatch.setenv("HUB_ACCEPT_SHRINK", "1")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded) == ("replaced", 24)


# The same rules through `hub build` (held, waiting, `--strict`, `--accept-shrink`, `hub status`)
# are checked in the build sequence of tests/test_ingest_rows.py, which the suite runs once.
