"""`hub bench` keeps working: every stage is timed and both floors are compared with the marts.

Only the command's shape is checked here; the figures themselves are recorded in
docs/benchmarks.md (speed is measured in benchmarks, never asserted in tests). The build
scenarios (`--scenarios`) run `hub build` four times, minutes even on tiny data, so their
parts are checked one by one: the partner clones, the process-tree memory sampler, the
parsing of `hub build`'s output and the comparison of the marts after the withdrawn month.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from dagster_project.bench_builds import (
    COMPARED_MARTS,
    BuildRun,
    DiskPeak,
    PeakRss,
    disk_use,
    hub_env,
    marts_differences,
    rows_by_source,
)
from dagster_project.bench_partners import (
    MAX_FACTOR,
    MIN_FACTOR,
    TEMPLATES,
    clone_code,
    write_clones,
)
from dagster_project.build_record import record_written_since
from dagster_project.generate.crm_spec import load_crm_partner
from dagster_project.generate.spec import STAFFING_PROFILES, load_partner_spec
from dagster_project.partners import SOURCE_FIELDS, load_partners
from dagster_project.settings import REPO_ROOT
from tests.conftest import PARTNERS_DIR, hub
from tests.conftest import hub_env as cli_env

OTHER_SOURCES = [s for s in SOURCE_FIELDS if s not in ("telephony", "crm")]
STAGES = ("generate", "load telephony (raw)", "load crm (raw, pseudonymised)",
          f"load {', '.join(OTHER_SOURCES)} (raw)", "transform (dbt build)", "publish",
          "floor: telephony (one DuckDB statement)",
          "floor: crm (one DuckDB statement)", "floor: both sources")


def _check_stages(out: str, partner_months: int) -> None:
    for stage in STAGES:
        assert re.search(rf"^\| {re.escape(stage)} \|\s+[\d.]+ \|\s+[\d,]+ \|\s+[\d,]+ \|"
                         rf"\s+[\d.]+ \|$", out, re.MULTILINE), f"missing stage {stage!r}:\n{out}"
    telephony = re.search(r"floor vs marts.kpi_telephony_monthly over (\d+) of (\d+) "
                          r"partner-months .* max gap offered (\d+) calls, TSF ([\d.]+) pts", out)
    assert telephony, out
    assert int(telephony.group(1)) == int(telephony.group(2)) == partner_months
    assert float(telephony.group(4)) < 1.0
    crm = re.search(r"crm floor vs marts.kpi_contact_monthly over (\d+) of (\d+) partner-months "
                    r".* max gap contacts (\d+), FPOC ([\d.]+) pts, channel share ([\d.]+) pts",
                    out)
    assert crm, out
    # the floor keeps the few quarantined rows (1 in 2,000, but at least six per partner)
    assert float(crm.group(4)) < 5.0 and float(crm.group(5)) < 5.0, out


def test_bench_times_every_stage_against_both_floors(tmp_path):
    result = hub(cli_env(tmp_path / "unused"), "bench", "--scale", "0.02", "--months", "2")
    # 7 partners with telephony (PhoneNow: 3 months of 2021) x 2 months, less PhoneNow's
    # months the generated ones do not cover: 6 x 2 + 3
    _check_stages(result.stdout, 6 * 2 + 3)
    assert "partners: the repository's 7" in result.stdout


def test_bench_clones_partners_and_writes_the_report(tmp_path):
    out = tmp_path / "bench.md"
    result = hub(cli_env(tmp_path / "unused"), "bench", "--partners", "8", "--scale", "0.02",
                 "--months", "2", "--out", str(out))
    _check_stages(result.stdout, 8 * 2)
    assert "partners: 8 clones of eastbrook" in result.stdout
    assert out.read_text(encoding="utf-8").strip() == result.stdout.strip()


def test_clones_are_valid_partners_of_varied_size_and_staffing(tmp_path):
    paths = write_clones(14, PARTNERS_DIR, tmp_path / "a", seed=42)
    # the ingest side's rules
    partners = load_partners(tmp_path / "a", REPO_ROOT / "seeds" / "reference")
    assert list(partners) == sorted(clone_code(i) for i in range(14))
    assert clone_code(7) == "highcross_007" and "phonenow" not in "".join(partners)
    profiles, groups = set(), {}
    for i, path in enumerate(sorted(paths, key=lambda p: int(p.stem.rsplit("_", 1)[1]))):
        template = yaml.safe_load((PARTNERS_DIR / f"{TEMPLATES[i % 6]}.yml").read_text("utf-8"))
        clone = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert clone["sources"] == template["sources"]  # the template's formats, CRM included
        assert clone["generator"]["crm"]["id_prefix"] == template["generator"]["crm"]["id_prefix"]
        factor = (clone["generator"]["base_calls_per_weekday"]
                  / template["generator"]["base_calls_per_weekday"])
        assert MIN_FACTOR - 0.01 <= factor <= MAX_FACTOR + 0.01
        spec = load_partner_spec(path)
        assert spec.code == path.stem and spec.generator is not None
        profiles.add(spec.generator.staffing_profile)
        crm = load_crm_partner(path)
        assert crm is not None
        groups.setdefault(crm.settings.population, []).append(crm.kind)
    assert profiles <= set(STAFFING_PROFILES) and len(profiles) > 1
    # six clones per two-tier area (one county: the northmoor clone), the rest in the last
    assert [sorted(kinds) for kinds in groups.values()] == [
        ["county"] + ["district"] * 5, ["county"] + ["district"] * 5, ["district"] * 2]
    write_clones(14, PARTNERS_DIR, tmp_path / "b", seed=42)
    assert all(p.read_bytes() == (tmp_path / "b" / p.name).read_bytes() for p in paths)


def test_clones_generate_the_same_bytes_whatever_the_workers(tmp_path):
    import datetime as dt

    from dagster_project.generate import generate_sample

    write_clones(7, PARTNERS_DIR, tmp_path / "partners", seed=1)  # two population areas
    clones = load_partners(tmp_path / "partners", REPO_ROOT / "seeds" / "reference")
    assert set(clones) == {clone_code(i) for i in range(7)}
    files = {}
    for workers in (1, 2):
        landing = tmp_path / f"landing{workers}"
        report = generate_sample(landing, tmp_path / "partners", months=1, seed=1, scale=0.02,
                                 end_month=dt.date(2025, 3, 1), workers=workers)
        # every source each clone's template configures (the service-standard sources too)
        assert {(p.partner_code, p.source) for p in report.partners if p.rows} == {
            (code, source) for code, cfg in clones.items() for source in cfg.sources}
        files[workers] = {p.relative_to(landing): p.read_bytes()
                          for p in landing.rglob("*") if p.is_file()}
    assert files[1] == files[2]


def test_crm_share_scales_the_clones_crm_and_nothing_else(tmp_path):
    import datetime as dt

    from dagster_project.generate import generate_sample

    rows = {}
    for share in (1.0, 0.25):
        partners = tmp_path / f"partners{share:g}"
        paths = write_clones(6, PARTNERS_DIR, partners, seed=3, crm_share=share)
        for i, path in enumerate(paths):
            template = yaml.safe_load((PARTNERS_DIR / f"{TEMPLATES[i]}.yml").read_text("utf-8"))
            clone = yaml.safe_load(path.read_text(encoding="utf-8"))
            logged = template["generator"]["crm"]["phone_logged_share"]
            assert clone["generator"]["crm"]["phone_logged_share"] == (
                logged if share == 1 else round(logged * share, 6))
            assert clone["generator"]["crm"]["channel_ratios"] == (
                template["generator"]["crm"]["channel_ratios"])
        report = generate_sample(tmp_path / f"landing{share:g}", partners, months=1, seed=3,
                                 scale=0.05, end_month=dt.date(2025, 3, 1))
        rows[share] = {source: sum(p.rows for p in report.partners if p.source == source)
                       for source in ("telephony", "crm")}
    assert rows[0.25]["telephony"] == rows[1.0]["telephony"]
    assert 0.2 < rows[0.25]["crm"] / rows[1.0]["crm"] < 0.3, rows


def test_crm_share_is_checked(tmp_path):
    for args, message in ((("--partners", "2", "--crm-share", "0"), "must be in (0, 1]"),
                          (("--partners", "2", "--crm-share", "1.5"), "must be in (0, 1]"),
                          (("--crm-share", "0.5"), "--crm-share needs --partners")):
        result = hub(cli_env(tmp_path / "unused"), "bench", *args, check=False)
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_disk_use_counts_allocated_bytes_and_keeps_the_peak(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"x" * 100_000)
    (tmp_path / "g").write_bytes(b"y" * 50_000)
    assert 150_000 <= disk_use(tmp_path) < 200_000
    assert disk_use(tmp_path / "missing") == 0
    with DiskPeak(tmp_path, min_seconds=0.05) as disk:
        disk.stage("write")
        (tmp_path / "g").unlink()
        disk.stage("delete")
    assert disk.peak >= 150_000 and disk.peak_stage == "during write"
    assert [name for name, _ in disk.after] == ["write", "delete"]
    assert disk.after[1][1] < disk.after[0][1]


def test_peak_rss_covers_the_whole_process_tree():
    child = "b = b'x' * 300_000_000; import time; time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    proc = subprocess.Popen([sys.executable, "-c", parent])
    with PeakRss(proc.pid) as rss:
        proc.wait()
    assert rss.peak > 300_000_000


def test_peak_rss_sees_a_spike_no_sample_caught():
    """300 MB held for a moment and freed before the first sample (as a spike between two
    samples): the samples never see it, the kernel's high-water mark does."""
    code = ("import time; b = bytearray(300_000_000); b[::4096] = b'x' * len(b[::4096]); "
            "del b; print('freed', flush=True); time.sleep(1)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "freed\n"
    with PeakRss(proc.pid) as rss:
        proc.wait()
    assert rss.sampled < 200_000_000 < 300_000_000 < rss.peak


def test_build_output_is_read_per_source_and_paths_are_never_inherited(monkeypatch):
    stdout = ("hub build: 8 partners, landing /x\n"
              "load: telephony files: 48 loaded, 0 replaced, 0 unchanged, 0 rejected; "
              "rows loaded 3,021; malformed lines 0\n"
              "      crm files: 16 loaded, 0 replaced, 0 unchanged, 0 rejected; "
              "rows loaded 4,126; malformed lines 1\n")
    assert rows_by_source(stdout) == {"telephony": 3021, "crm": 4126}
    monkeypatch.setenv("HUB_WORK_DB", "/elsewhere/wh.duckdb")
    monkeypatch.setenv("HUB_SETTLE_SECONDS", "60")
    env = hub_env(Path("/tmp/d"), Path("/tmp/p"))
    assert "HUB_WORK_DB" not in env
    assert env["HUB_SETTLE_SECONDS"] == "0"  # its files were generated a moment before
    assert env["HUB_DATA_DIR"] == "/tmp/d" and env["HUB_PARTNERS_DIR"] == "/tmp/p"
    assert env["DAGSTER_HOME"] == "/tmp/d/dagster_home"


def _served_file(path: Path, rows: list[tuple[str, float]], tables=COMPARED_MARTS) -> Path:
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        for table in tables:
            con.execute(f"create table marts.{table} (partner_code varchar, value double)")
            con.executemany(f"insert into marts.{table} values (?, ?)", rows)
    return path


def test_a_withdrawn_month_is_compared_with_the_full_build_row_for_row(tmp_path):
    """After the withdrawn-month scenario the bench compares the board's three marts with those
    the full build published: equal files give no difference; a changed row, a repeated row
    (the same rows, one twice) and a missing table are each named."""
    rows = [("eastbrook", 0.81), ("westvale", 0.79)]
    before = _served_file(tmp_path / "before.duckdb", rows)
    assert marts_differences(before, _served_file(tmp_path / "same.duckdb", rows)) == (6, {})
    changed = _served_file(tmp_path / "changed.duckdb", [rows[0], ("westvale", 0.78)])
    assert marts_differences(before, changed)[1] == {
        table: "1 rows only before, 1 only after" for table in COMPARED_MARTS}
    repeated = _served_file(tmp_path / "repeated.duckdb", [*rows, rows[1]])
    assert marts_differences(before, repeated)[1][COMPARED_MARTS[0]] == (
        "0 rows only before, 1 only after")
    missing = _served_file(tmp_path / "missing.duckdb", rows, COMPARED_MARTS[1:])
    problem = marts_differences(before, missing)[1]
    assert list(problem) == [COMPARED_MARTS[0]]
    assert problem[COMPARED_MARTS[0]].startswith("not comparable")


def test_superset_timing_needs_the_build_scenarios(tmp_path):
    result = hub(cli_env(tmp_path / "unused"), "bench", "--superset", check=False)
    assert result.returncode == 2 and "--superset needs --scenarios" in result.stderr


def test_each_scenario_says_where_its_time_went_from_its_build_record(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    old = logs / "build-20261101-000000-aaaaaaaa.json"
    old.write_text(json.dumps({"seconds": {"load": 9.0}}), encoding="utf-8")
    os.utime(old, (1_000_000, 1_000_000))
    start = time.time()
    assert record_written_since(tmp_path, start) is None  # only a record from before the run
    record = {"seconds": {"load": 2.5, "dbt": 16.48, "checks": 0.55, "publish": 1.14,
                          "total": 20.67},
              "dbt_nodes": {"count": 131, "seconds": 22.56, "longest": [
                  {"node": "model int_customers__resolved", "seconds": 3.99},
                  {"node": "test " + "x" * 80, "seconds": 0.82}]}}
    (logs / "build-20261204-142012-bbbbbbbb.json").write_text(json.dumps(record),
                                                                encoding="utf-8")
    found = record_written_since(tmp_path, start)
    assert found == record
    line = BuildRun("new month (25th)", "hub build", 23.9, 0, {}, "", "", 0,
                    found).where_the_time_went()
    assert line == ("- new month (25th): load 2.5 s, dbt 16.5 s, checks 0.6 s, publication 1.1 s;"
                    " dbt ran 131 nodes (22.6 node-seconds), the longest: model "
                    "int_customers__resolved 4.0 s, test " + "x" * 55 + " 0.8 s")
    nothing = {"seconds": {"load": 0.5, "dbt": 0.2, "checks": 0.0, "publish": 0.0},
               "dbt_nodes": None}
    assert BuildRun("no-change rebuild", "hub build", 3.0, 0, {}, "", "", 0,
                    nothing).where_the_time_went() == (
        "- no-change rebuild: load 0.5 s, dbt 0.2 s, checks 0.0 s, publication 0.0 s")
    assert BuildRun("x", "hub build", 1.0, 0, {}, "", "", 1).where_the_time_went() == (
        "- x: no build record")


def test_a_failed_bench_removes_its_folder_and_keeps_its_builds_logs(tmp_path):
    """A build that fails ends the bench with status 1, the failure's lines printed; the bench's
    folder is removed (gigabytes at scale), and its builds' logs are kept beside it, dbt's lines
    of every node among them. Here the full build's DuckDB may hold 1 MiB: its load fails.
    The project is seen through links, its dbt/target apart: a hub process under that limit
    parses the project again (dbt_runner.ensure_manifest), and the suite's other processes
    would then parse it again under theirs."""
    home = tmp_path / "home"
    (home / "dbt").mkdir(parents=True)
    for entry in REPO_ROOT.iterdir():
        if entry.name != "dbt":
            (home / entry.name).symlink_to(entry)
    for entry in (REPO_ROOT / "dbt").iterdir():
        if entry.name != "target":
            (home / "dbt" / entry.name).symlink_to(entry)
    workdir = tmp_path / "work"
    result = hub({**cli_env(tmp_path / "unused"), "HUB_MEMORY_LIMIT": "1MB",
                  "HUB_HOME": str(home)}, "bench",
                 "--scale", "0.02", "--months", "2", "--scenarios", "--workdir", str(workdir),
                 check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "full build (2 months) (`hub build --full-refresh`) exited 1" in result.stdout
    [kept] = workdir.iterdir()
    assert kept.name.startswith("hub-bench-0.02-") and kept.name.endswith("-logs")
    assert f"hub bench: failed; its builds' logs are kept in {kept}" in result.stderr
    assert [log.name for log in kept.glob("build-*.log")], list(kept.iterdir())


def test_a_stopped_bench_stops_its_build_and_removes_its_folder(tmp_path):
    """SIGTERM (a job's timeout, a service manager) during the bench's first `hub build`: the
    build is stopped, then the bench's folder (gigabytes at scale) is removed, as after
    Ctrl-C."""
    from dagster_project.supervisor import descendants

    workdir = tmp_path / "work"
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hub")), "bench", "--scale", "0.02", "--months",
         "2", "--scenarios", "--workdir", str(workdir)],
        env=cli_env(tmp_path / "unused"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    build: list[int] = []
    deadline = time.monotonic() + 240
    while not build and proc.poll() is None and time.monotonic() < deadline:
        build = [pid for pid in descendants(proc.pid) if b"build" in _argv(pid)]
        time.sleep(0.1)
    assert build, "the bench's first `hub build` never started"
    assert any(workdir.glob("hub-bench-*"))
    proc.terminate()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "hub bench: stopped; its folder is removed" in stderr
    assert not any(workdir.iterdir()), list(workdir.iterdir())
    assert not any(Path(f"/proc/{pid}").exists() for pid in build)


def test_a_bench_stopped_twice_while_it_generates_removes_its_folder(tmp_path):
    """SIGTERM, then another while the bench is stopping, both while its generator's worker
    processes write files: they finish their batches before the folder is removed, so nothing
    writes into it afterwards (the second signal had broken that wait, and the workers went on
    writing into the removed folder, making it again)."""
    from dagster_project.supervisor import descendants

    workdir = tmp_path / "work"
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hub")), "bench", "--scale", "1", "--months", "6",
         "--scenarios", "--workdir", str(workdir)],
        env=cli_env(tmp_path / "unused"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    workers: list[int] = []
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        workers = [pid for pid in descendants(proc.pid)
                   if any(b"spawn_main" in arg for arg in _argv(pid))]  # not the tracker
        if workers and any(workdir.glob("hub-bench-*/**/*.csv")):
            break
        time.sleep(0.05)
    assert workers, "the bench's generator never wrote a file with its workers"
    proc.terminate()
    time.sleep(0.1)
    proc.terminate()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "hub bench: full build" not in stderr  # stopped while it generated
    assert "hub bench: stopped; its folder is removed" in stderr
    assert not [pid for pid in workers if _running(pid)]
    assert not any(workdir.iterdir()), list(workdir.iterdir())


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # ended meanwhile
        return []
