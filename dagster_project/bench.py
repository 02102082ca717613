"""`hub bench`: how fast the hub builds, against a floor, in two modes.

**Stages** (default): generate, load telephony, load CRM (with its pseudonymisation), transform
(`dbt build`) and publish, each timed in this process.

**Build scenarios** (`--scenarios`): the real `hub build` in a subprocess, with the peak resident
memory of its whole process tree: a full build of `months` months, the next month delivered, a
rebuild with nothing new, and that month withdrawn again, after which the board's figures must
equal the full build's row for row (`bench_builds`).

The **floor** is what the fastest anything could be: one DuckDB statement per source straight
from the same landing files (files DuckDB cannot read here — Excel, Windows-1252, JSON lines — are
converted first, outside the timer): monthly TSF, ASA and abandon rate for the telephony, and
monthly contacts, FPOC and channel mix for the CRM. Both skip the quarantine rules, so their
figures differ from the marts by a hair; the command prints the gaps.

`--partners N` benchmarks N partners cloned from the six fictional sample partners
(`bench_partners`) instead of the repository's partners; `--crm-share F` scales the clones' CRM
volume by F. Everything lives in a temporary folder under `--workdir` (default the system's
temporary folder), whose disk use is sampled throughout and reported (peak and after each
stage); files a later stage no longer needs are deleted as the run goes. Figures go in
docs/benchmarks.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb

from dagster_project import dbt_in_process
from dagster_project.bench_builds import (
    COMPARED_MARTS,
    BuildRun,
    DiskPeak,
    build_supports_full_refresh,
    hub_env,
    marts_differences,
    move_files,
    run_hub_build,
)
from dagster_project.bench_partners import (
    MAX_FACTOR,
    MIN_FACTOR,
    TEMPLATES,
    check_crm_share,
    write_clones,
)
from dagster_project.build_plan import plan_for_dbt
from dagster_project.dbt_runner import DbtError, build_args, seed_partial_parse
from dagster_project.ingest import load_source, write_partner_config
from dagster_project.ingest.discovery import discover_files
from dagster_project.ingest.readers import FileRejected, Readable, readable_file
from dagster_project.partners import SOURCE_FIELDS, PartnerConfig, SourceConfig, load_partners
from dagster_project.privacy import pseudonymisation_key
from dagster_project.publish import publish
from dagster_project.settings import Settings
from dagster_project.writer_lock import writer_lock

SHORT_ABANDON_S = 5
TSF_THRESHOLD_S = 15
CRM_CHANNELS = ("phone", "face_to_face", "web", "email", "letter", "social")

# Goals (issue 9): each figure of the build scenarios is printed beside its goal.
GOAL_SCALE = 10  # the full-build goal is set for scale 10 (fixed costs dominate smaller runs)
GOAL_FULL_VS_FLOOR = 10.0  # full build <= 10 x the floor (both sources)
GOAL_NEW_MONTH_SHARE = 0.10  # a new month <= 10 % of the full build
GOAL_NO_CHANGE_SHARE = 0.05  # a rebuild with nothing new <= 5 % of the full build
GOAL_PEAK_RSS_BYTES = 4 * 1024**3  # peak resident memory of any build <= 4 GiB
GIB = 1024**3


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duration(expr: str, fmt: str) -> str:
    if fmt == "hms":
        return (f"(try_cast(split_part({expr}, ':', 1) as double) * 3600 + "
                f"try_cast(split_part({expr}, ':', 2) as double) * 60 + "
                f"try_cast(split_part({expr}, ':', 3) as double))")
    return f"try_cast({expr} as double)"


def _partner_select(p: PartnerConfig, cfg: SourceConfig, files: list[Path],
                    delimiter: str) -> str:
    cols = cfg.columns
    started = f"try_strptime({cols['started_at'].sql()}, {_sql(cfg.timestamp_format)})"
    if cfg.timestamp_zone == "utc":
        started = f"(({started} at time zone 'UTC') at time zone {_sql(p.timezone)})"
    outcome = " ".join(f"when {_sql(code)} then {_sql(out)}" for code, out in cfg.codes.items())
    wait = _duration(cols["wait"].sql(), cfg.duration_formats["wait"]) if "wait" in cols else "null"
    file_list = "[" + ", ".join(_sql(str(f)) for f in files) + "]"
    return (f"select {_sql(p.code)} as partner_code, {started} as started_local, "
            f"case {cols['outcome'].sql()} {outcome} end as outcome, {wait} as wait_s "
            f"from read_csv({file_list}, delim = {_sql(delimiter)}, header = true, "
            f"all_varchar = true)")


def floor_statement(settings: Settings, partners: dict[str, PartnerConfig], workdir: Path) -> str:
    """The single statement (plus untimed conversion of files DuckDB cannot read)."""
    files, _ = discover_files(settings.landing_dir, partners, "telephony")
    selects = []
    for code, p in partners.items():
        cfg = p.sources["telephony"]
        paths, delimiter = [], cfg.delimiter
        for f in (f for f in files if f.partner_code == code):
            sub = workdir / code
            sub.mkdir(parents=True, exist_ok=True)
            readable = readable_file(f.path, cfg, sub)
            paths.append(readable.path)
            delimiter = readable.delimiter
        if paths:
            selects.append(_partner_select(p, cfg, paths, delimiter))
    calls = "\nunion all\n".join(selects)
    return f"""
        with calls as (select * from ({calls}) where started_local is not null)
        select partner_code, date_trunc('month', started_local)::date as month,
            count(*) filter (where outcome in ('answered', 'abandoned')) as offered,
            count(*) filter (where outcome = 'abandoned' and wait_s < {SHORT_ABANDON_S})
                as short_abandoned,
            round(100.0 * count(*) filter (where outcome = 'answered'
                    and wait_s <= {TSF_THRESHOLD_S})
                / nullif(count(*) filter (where outcome in ('answered', 'abandoned'))
                    - count(*) filter (where outcome = 'abandoned' and wait_s < 5), 0), 6)
                as tsf_pct,
            round(avg(wait_s) filter (where outcome = 'answered'), 6) as asa_seconds,
            round(100.0 * (count(*) filter (where outcome = 'abandoned')
                    - count(*) filter (where outcome = 'abandoned' and wait_s < 5))
                / nullif(count(*) filter (where outcome in ('answered', 'abandoned'))
                    - count(*) filter (where outcome = 'abandoned' and wait_s < 5), 0), 6)
                as abandon_rate_pct
        from calls group by all order by 1, 2
    """


def _crm_select(p: PartnerConfig, cfg: SourceConfig, files: list[Readable]) -> str:
    cols = cfg.columns

    def text(field: str) -> str:
        return f"nullif(trim({cols[field].sql()}), '')"

    created = f"try_strptime({text('created_at')}, {_sql(cfg.timestamp_format)})"
    if cfg.timestamp_zone == "utc":
        created = f"(({created} at time zone 'UTC') at time zone {_sql(p.timezone)})"
    channels = " ".join(f"when {_sql(code)} then {_sql(canonical)}"
                        for code, canonical in cfg.field_codes["channel"].items())
    if "first_contact_resolved" in cols:
        flags = " ".join(f"when {_sql(code)} then {canonical}"
                         for code, canonical in cfg.field_codes["flag"].items())
        fpoc = f"case {text('first_contact_resolved')} {flags} end"
    else:
        fpoc = "null::boolean"
    encoding = files[0].encoding
    file_list = "[" + ", ".join(_sql(str(f.path)) for f in files) + "]"
    return (f"select {_sql(p.code)} as partner_code, {created} as created_local, "
            f"case {text('channel')} {channels} end as channel, {fpoc} as fpoc "
            f"from read_csv({file_list}, delim = {_sql(files[0].delimiter)}, header = true, "
            f"all_varchar = true, union_by_name = true, encoding = {_sql(encoding)})")


def crm_channels(partners: dict[str, PartnerConfig]) -> list[str]:
    """Canonical channels of the partners' CRM codes (the generator's order first)."""
    found = {c for p in partners.values() if "crm" in p.sources
             for c in p.sources["crm"].field_codes.get("channel", {}).values()}
    return [c for c in CRM_CHANNELS if c in found] + sorted(found - set(CRM_CHANNELS))


def crm_floor_statement(settings: Settings, partners: dict[str, PartnerConfig],
                        workdir: Path) -> str | None:
    """One statement computing monthly contacts, FPOC % and channel mix (% of contacts) per
    partner from the CRM landing files (plus untimed conversion of files DuckDB cannot read);
    None when no partner has CRM files."""
    files, _ = discover_files(settings.landing_dir, partners, "crm")
    selects = []
    for code, p in partners.items():
        cfg = p.sources.get("crm")
        if cfg is None:
            continue
        readable = []
        for f in (f for f in files if f.partner_code == code):
            sub = workdir / code
            sub.mkdir(parents=True, exist_ok=True)
            try:
                readable.append(readable_file(f.path, cfg, sub))
            except FileRejected:  # the build rejects it too
                continue
        if readable:
            selects.append(_crm_select(p, cfg, readable))
    if not selects:
        return None
    contacts = "\nunion all\n".join(selects)
    mix = ",\n            ".join(
        f"round(100.0 * count(*) filter (where channel = {_sql(c)}) / count(*), 6) "
        f"as {c}_pct" for c in crm_channels(partners))
    return f"""
        with contacts as (select * from ({contacts}) where created_local is not null)
        select partner_code, date_trunc('month', created_local)::date as month,
            count(*) as contacts,
            round(100.0 * count(*) filter (where fpoc) / nullif(count(fpoc), 0), 6) as fpoc_pct,
            {mix}
        from contacts group by all order by 1, 2
    """


def crm_marts_query(partners: dict[str, PartnerConfig]) -> str:
    """The floor's CRM figures from `marts.kpi_contact_monthly` (same columns)."""
    mix = ", ".join(
        f"round(100.0 * sum(contacts) filter (where channel_code = {_sql(c)}) "
        f"/ sum(contacts), 6)" for c in crm_channels(partners))
    return (f"select partner_code, month, sum(contacts), "
            f"round(100.0 * sum(fpoc_resolved) / nullif(sum(fpoc_flagged), 0), 6), {mix} "
            f"from marts.kpi_contact_monthly group by 1, 2 order by 1, 2")


TELEPHONY_MARTS_QUERY = (
    "select partner_code, month, offered, short_abandoned, round(tsf_pct, 6), "
    "round(asa_seconds, 6), round(abandon_rate_pct, 6) from marts.kpi_telephony_monthly "
    "order by 1, 2")


@dataclasses.dataclass
class Floors:
    telephony_seconds: float
    telephony_rows: int
    crm_seconds: float
    crm_rows: int
    telephony_gap: str
    crm_gap: str

    @property
    def seconds(self) -> float:
        return self.telephony_seconds + self.crm_seconds


def measure_floors(settings: Settings, partners: dict[str, PartnerConfig], workdir: Path,
                   serving_db: Path, rows: tuple[int, int]) -> Floors:
    """Time both floor statements over `settings.landing_dir` and compare them with the marts
    of `serving_db`. `rows`: the landing rows (telephony, CRM) they read, for rates. Each
    source's converted files (under `workdir`) are deleted once its statement has run."""
    telephony_sql = floor_statement(settings, partners, workdir / "telephony")
    t = time.perf_counter()
    telephony = duckdb.connect().execute(telephony_sql).fetchall()
    telephony_s = time.perf_counter() - t
    shutil.rmtree(workdir / "telephony", ignore_errors=True)
    crm_sql = crm_floor_statement(settings, partners, workdir / "crm")
    crm: list[tuple] = []
    crm_s = 0.0
    if crm_sql is not None:
        t = time.perf_counter()
        crm = duckdb.connect().execute(crm_sql).fetchall()
        crm_s = time.perf_counter() - t
    shutil.rmtree(workdir, ignore_errors=True)
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        telephony_marts = con.execute(TELEPHONY_MARTS_QUERY).fetchall()
        crm_marts = con.execute(crm_marts_query(partners)).fetchall() if crm_sql else []
    finally:
        con.close()
    return Floors(telephony_s, rows[0], crm_s, rows[1],
                  compare_with_marts(telephony, telephony_marts),
                  compare_crm_with_marts(crm, crm_marts) if crm_sql else "no CRM files")


@dataclasses.dataclass
class Stage:
    name: str
    seconds: float
    rows: int

    def line(self, floor_seconds: float) -> str:
        rate = self.rows / self.seconds if self.seconds else 0
        times = self.seconds / floor_seconds if floor_seconds else 0
        return (f"| {self.name} | {self.seconds:8.2f} | {self.rows:>12,} | {rate:>14,.0f} | "
                f"{times:8.2f} |")


@dataclasses.dataclass
class Bench:
    """One `hub bench` run: its folders and partners."""

    scale: float
    months: int
    seed: int
    tmp: Path
    partners_dir: Path
    clones: int | None
    superset: bool = False
    crm_share: float = 1.0
    disk: DiskPeak | None = None

    def stage_done(self, name: str) -> None:
        if self.disk is not None:
            self.disk.stage(name)

    def settings(self, base: Settings, data_dir: Path) -> Settings:
        return dataclasses.replace(
            base, data_dir=data_dir, landing_dir=data_dir / "landing",
            work_db=data_dir / "work" / "warehouse.duckdb",
            serving_db=data_dir / "serving" / "warehouse.duckdb",
            operations_db=data_dir / "serving" / "operations.duckdb",
            partners_dir=self.partners_dir, dagster_home=data_dir / "dagster_home")


def _partners_line(bench: Bench, partners: dict[str, PartnerConfig]) -> str:
    if bench.clones is None:
        return f"partners: the repository's {len(partners)} ({bench.partners_dir})"
    profiles = Counter(p.generator.get("staffing_profile") for p in partners.values())
    calls = sum(float(p.generator["base_calls_per_weekday"]) for p in partners.values())
    return (f"partners: {bench.clones} clones of {', '.join(TEMPLATES)} (seed {bench.seed}; "
            f"calls per weekday x{MIN_FACTOR:g}-{MAX_FACTOR:g} of the template, "
            f"{calls:,.0f} in all at scale 1; staffing "
            + ", ".join(f"{k} {v}" for k, v in sorted(profiles.items()))
            + f"; CRM share {bench.crm_share:g}"
            + (" (phone_logged_share x share: CRM contacts ~ share x the template's per call)"
               if bench.crm_share != 1 else "") + ")")


def _rows_line(report) -> str:
    """Rows generated per source (the CRM's included, whatever its share)."""
    by_source = Counter()
    for p in report.partners:
        by_source[p.source] += p.rows
    return ", ".join(f"{source} {rows:,}" for source, rows in sorted(by_source.items()))


def _disk_lines(bench: Bench, workdir: Path | None) -> list[str]:
    disk = bench.disk
    if disk is None:
        return []
    where = workdir if workdir is not None else Path(tempfile.gettempdir())
    return [f"- disk of the bench folder (under {where}): peak {_mib(disk.peak)} "
            f"({disk.peak_stage}); after each stage: "
            + ", ".join(f"{name} {_mib(used)}" for name, used in disk.after)]


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def _progress(message: str) -> None:
    print(f"hub bench: {message}", file=sys.stderr, flush=True)


def _keep_logs(tmp: Path) -> None:
    """A failed bench removes its folder (gigabytes at scale) but keeps its builds' logs beside
    it (`<folder>-logs`): the dbt log of the failed build, and of every node that ran beside
    the one that failed."""
    logs = tmp / "data" / "logs"
    if logs.is_dir() and any(logs.iterdir()):
        kept = tmp.with_name(f"{tmp.name}-logs")
        shutil.copytree(logs, kept)
        _progress(f"failed; its builds' logs are kept in {kept}")


def run_bench(scale: float, months: int = 24, seed: int = 42, keep: bool = False, *,
              partners: int | None = None, scenarios: bool = False,
              out: Path | None = None, superset: bool = False, crm_share: float = 1.0,
              workdir: Path | None = None) -> int:
    check_crm_share(crm_share)
    if crm_share != 1 and partners is None:
        raise ValueError("--crm-share needs --partners (it scales the clones' CRM)")
    base = Settings.from_env()
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"hub-bench-{scale:g}-", dir=workdir))
    partners_dir = base.partners_dir
    if partners is not None:
        partners_dir = tmp / "partners"
        write_clones(partners, base.home / "seeds" / "partners", partners_dir, seed, crm_share)
    bench = Bench(scale, months, seed, tmp, partners_dir, partners, superset, crm_share)
    # the loader's conversions (tempfile) go under the bench folder too, in this process and in
    # the builds (TMPDIR, see hub_env)
    saved_tempdir, tempfile.tempdir = tempfile.tempdir, str(tmp / "tmp")
    (tmp / "tmp").mkdir()
    code = 0  # a stopped bench (Ctrl-C, SIGTERM) keeps nothing
    try:
        with DiskPeak(tmp) as bench.disk:
            lines, code = (_run_scenarios if scenarios else _run_stages)(bench, base)
        lines += _disk_lines(bench, workdir)
    finally:
        tempfile.tempdir = saved_tempdir
        if keep:
            _progress(f"kept {tmp}")
        else:
            if code != 0:
                _keep_logs(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n\n")
    return code


def _machine_line() -> str:
    return (f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}, {dt.date.today().isoformat()}")


def _floor_lines(floors: Floors) -> list[str]:
    return [f"- {floors.telephony_gap}", f"- {floors.crm_gap}"]


def _run_stages(bench: Bench, base: Settings) -> tuple[list[str], int]:
    """The stages in this process, holding the writer lock of the bench's warehouse (as every
    writer does: dagster_project/writer_lock.py)."""
    settings = bench.settings(base, bench.tmp / "data")
    settings.ensure_dirs()
    with writer_lock(settings.work_db, "hub bench",
                     on_wait=lambda message: _progress(f"hub bench: {message}")):
        return _run_locked_stages(bench, settings)


def _run_locked_stages(bench: Bench, settings: Settings) -> tuple[list[str], int]:
    from dagster_project.generate import generate_sample

    partners = load_partners(settings.partners_dir, settings.reference_dir)
    stages: list[Stage] = []
    _progress(f"generating {bench.months} months at scale {bench.scale:g}")
    t = time.perf_counter()
    report = generate_sample(settings.landing_dir, settings.partners_dir, months=bench.months,
                             seed=bench.seed, scale=bench.scale)
    gen_s = time.perf_counter() - t
    bench.stage_done("generate")

    _progress("loading")
    t = time.perf_counter()
    con = duckdb.connect(str(settings.work_db))
    write_partner_config(con, partners)
    con.close()
    # the files were generated a moment ago, whole: no settle interval (ingest/settle.py)
    load = load_source(settings.work_db, settings.landing_dir, partners, "telephony", settle=0)
    stages.append(Stage("load telephony (raw)", time.perf_counter() - t, load.rows_loaded))
    t = time.perf_counter()
    crm = load_source(settings.work_db, settings.landing_dir, partners, "crm",
                      pseudonymisation_key=pseudonymisation_key(settings), settle=0)
    stages.append(Stage("load crm (raw, pseudonymised)", time.perf_counter() - t,
                        crm.rows_loaded))
    # the service-standard sources (and any other the partners configure): one stage, so that
    # dbt finds every raw table the models read
    others = [source for source in SOURCE_FIELDS if source not in ("telephony", "crm")]
    t = time.perf_counter()
    other_rows = sum(load_source(settings.work_db, settings.landing_dir, partners, source,
                                 settle=0).rows_loaded for source in others)
    stages.append(Stage(f"load {', '.join(others)} (raw)", time.perf_counter() - t, other_rows))
    bench.stage_done("load")
    rows = load.rows_loaded + crm.rows_loaded + other_rows
    stages.insert(0, Stage("generate", gen_s, rows))

    _progress("dbt build")
    t = time.perf_counter()
    # as `hub build --full-refresh` does: a full plan in the `build` schema the models read,
    # then `dbt build` without the unit tests (they run in the test suite)
    plan_for_dbt(settings, full_refresh=True)
    # dbt's artifacts go to the bench's folder, not the project's dbt/target (which a
    # `hub build` running meanwhile reads); partial parsing still applies.
    target = bench.tmp / "dbt-target"
    seed_partial_parse(settings, target)
    # in this process, as `hub build` runs it (dagster_project/dbt_in_process.py)
    outcome = dbt_in_process.run_to_end(
        settings, [*build_args(), "--full-refresh", "--log-level", "none"], target)
    if not outcome.success:
        raise DbtError(f"`dbt build` failed:\n{outcome.problem()}")
    stages.append(Stage("transform (dbt build)", time.perf_counter() - t, rows))
    bench.stage_done("transform")

    t = time.perf_counter()
    publish(settings.work_db, settings.serving_db, settings.operations_db)
    stages.append(Stage("publish", time.perf_counter() - t, rows))
    bench.stage_done("publish")

    _progress("floors")
    floors = measure_floors(settings, partners, bench.tmp / "floor", settings.serving_db,
                            (load.rows_loaded, crm.rows_loaded))
    bench.stage_done("floors")
    stages += [
        Stage("floor: telephony (one DuckDB statement)", floors.telephony_seconds,
              floors.telephony_rows),
        Stage("floor: crm (one DuckDB statement)", floors.crm_seconds, floors.crm_rows),
        Stage("floor: both sources", floors.seconds, floors.telephony_rows + floors.crm_rows),
    ]
    lines = [
        f"hub bench: scale {bench.scale:g}, {bench.months} months, seed {bench.seed}; "
        f"{report.summary().splitlines()[0]}",
        _partners_line(bench, partners),
        f"generated rows: {_rows_line(report)}",
        _machine_line(),
        "",
        "| stage | seconds | rows | rows per second | x floor (both sources) |",
        "|---|---:|---:|---:|---:|",
        *(stage.line(floors.seconds) for stage in stages),
        "",
        *_floor_lines(floors),
    ]
    return lines, 0


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def _du(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _failed(run: BuildRun) -> list[str]:
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-30:])
    return [f"hub bench: {run.name} (`{run.command}`) exited {run.returncode}:", tail]


def _run_scenarios(bench: Bench, base: Settings) -> tuple[list[str], int]:
    """Full build of `months` months, then month `months + 1`, then nothing new, then month
    `months + 1` withdrawn (its files taken out of the landing folder): the worst incremental
    case (its customers split again), whose marts must equal the full build's."""
    from dagster_project.generate import generate_sample

    data = bench.tmp / "data"
    settings = bench.settings(base, data)
    incoming = bench.tmp / "incoming"
    partners = load_partners(bench.partners_dir, settings.reference_dir)

    # One sample of months + 1 months (deterministic), split by month: the full build gets the
    # first `months`, the new-month scenario the last. Cheaper than generating twice.
    _progress(f"generating {bench.months + 1} months at scale {bench.scale:g}")
    t = time.perf_counter()
    report = generate_sample(incoming, bench.partners_dir, months=bench.months + 1,
                             seed=bench.seed, scale=bench.scale)
    gen_s = time.perf_counter() - t
    bench.stage_done("generate")
    new_month = report.last_month
    held = [f.path for source in ("telephony", "crm")
            for f in discover_files(incoming, partners, source)[0]
            if f.period_month == new_month]
    held_set = set(held)
    move_files([f for f in sorted(incoming.rglob("*")) if f.is_file() and f not in held_set],
               incoming, settings.landing_dir)
    settings.ensure_dirs()
    env = hub_env(data, bench.partners_dir, bench.tmp / "tmp")
    full_refresh = build_supports_full_refresh(env)

    runs: list[BuildRun] = []
    _progress("full build")
    runs.append(run_hub_build(f"full build ({bench.months} months)",
                              ["build", "--full-refresh"] if full_refresh else ["build"], env))
    if runs[-1].returncode != 0:
        return _failed(runs[-1]), 1
    bench.stage_done("full build")
    full = runs[0]
    _progress("floors")
    floors = measure_floors(settings, partners, bench.tmp / "floor", settings.serving_db,
                            (full.rows_by_source.get("telephony", 0),
                             full.rows_by_source.get("crm", 0)))
    bench.stage_done("floors")

    move_files(held, incoming, settings.landing_dir)
    shutil.rmtree(incoming, ignore_errors=True)  # empty now
    _progress("new month")
    runs.append(run_hub_build(f"new month ({_ordinal(bench.months + 1)})", ["build"], env))
    if runs[-1].returncode != 0:
        return _failed(runs[-1]), 1
    bench.stage_done("new month")
    _progress("no-change rebuild")
    runs.append(run_hub_build("no-change rebuild", ["build"], env))
    if runs[-1].returncode != 0:
        return _failed(runs[-1]), 1
    bench.stage_done("no-change rebuild")
    _progress("month withdrawn")
    move_files([settings.landing_dir / path.relative_to(incoming) for path in held],
               settings.landing_dir, bench.tmp / "withdrawn")
    runs.append(run_hub_build(f"{_ordinal(bench.months + 1)} withdrawn", ["build"], env))
    if runs[-1].returncode != 0:
        return _failed(runs[-1]), 1
    bench.stage_done("month withdrawn")
    compared = _compare_with_full_build(runs[0], settings)
    superset_lines = _superset_lines(bench, settings, len(partners)) if bench.superset else []
    if bench.superset:
        bench.stage_done("superset")
    disk = {name: _du(path) for name, path in (
        ("landing", settings.landing_dir), ("work", settings.work_db.parent),
        ("serving", settings.serving_db.parent), ("dagster", settings.dagster_home))}

    full, new, same, withdrawn = runs
    peak = max(r.peak_rss for r in runs)
    at_goal_scale = bench.scale == GOAL_SCALE
    full_x = full.seconds / floors.seconds if floors.seconds else float("inf")
    rows = [
        (full, f"{full_x:.1f}x floor", f"<= {GOAL_FULL_VS_FLOOR:g}x floor (at scale "
         f"{GOAL_SCALE})", _met(full_x <= GOAL_FULL_VS_FLOOR)
         + ("" if at_goal_scale else f" (measured at scale {bench.scale:g})")),
        (new, f"{100 * new.seconds / full.seconds:.1f} % of full",
         f"<= {100 * GOAL_NEW_MONTH_SHARE:g} % of full",
         _met(new.seconds <= GOAL_NEW_MONTH_SHARE * full.seconds)),
        (same, f"{100 * same.seconds / full.seconds:.1f} % of full",
         f"<= {100 * GOAL_NO_CHANGE_SHARE:g} % of full",
         _met(same.seconds <= GOAL_NO_CHANGE_SHARE * full.seconds)),
        (withdrawn, f"{100 * withdrawn.seconds / full.seconds:.1f} % of full",
         "marts = the full build's", "yes" if compared.equal else "**no**"),
    ]
    note = ("" if full_refresh else
            "\n(`hub build` has no --full-refresh here: the full build is a plain `hub build` "
            "on a fresh data folder)")
    lines = [
        f"hub bench --scenarios: scale {bench.scale:g}, {bench.months} months "
        f"({report.first_month:%Y-%m}..{_add_month(new_month, -1):%Y-%m}) + 1 new month "
        f"({new_month:%Y-%m}), then withdrawn, seed {bench.seed}",
        _partners_line(bench, partners),
        _machine_line(),
        f"generate: {report.total_rows:,} rows ({_rows_line(report)}), "
        f"{report.total_files:,} files in {gen_s:.1f} s "
        f"({bench.months + 1} months; the last held back for the new month)",
        "",
        "| scenario | command | seconds | rows loaded | peak RSS | figure | goal | met |",
        "|---|---|---:|---:|---:|---|---|---|",
        *(f"| {r.name} | `{r.command}` | {r.seconds:.2f} | {r.rows_loaded:,} | "
          f"{_gib(r.peak_rss)} | {figure} | {goal} | {met} |"
          for r, figure, goal, met in rows),
        f"| peak RSS (largest build) | | | | {_gib(peak)} | {_gib(peak)} | "
        f"<= {_gib(GOAL_PEAK_RSS_BYTES)} | {_met(peak <= GOAL_PEAK_RSS_BYTES)} |",
        f"| floor: telephony (one DuckDB statement) | | {floors.telephony_seconds:.2f} | "
        f"{floors.telephony_rows:,} | | | | |",
        f"| floor: crm (one DuckDB statement) | | {floors.crm_seconds:.2f} | "
        f"{floors.crm_rows:,} | | | | |",
        f"| floor: both sources | | {floors.seconds:.2f} | "
        f"{floors.telephony_rows + floors.crm_rows:,} | | | | |",
        note,
        "",
        "Where each build's time went (its build record, `data/logs/build-*.json`):",
        *(r.where_the_time_went() for r in runs),
        "",
        compared.line,
        *_floor_lines(floors),
        "- disk after the last build: " + ", ".join(
            f"{name} {_gib(size)}" for name, size in disk.items())
        + f"; total {_gib(sum(disk.values()))}",
        *(["", *superset_lines] if superset_lines else []),
    ]
    return lines, (0 if compared.equal else 1)


@dataclasses.dataclass(frozen=True)
class Compared:
    equal: bool
    line: str


def _compare_with_full_build(full: BuildRun, settings: Settings) -> Compared:
    """The served marts after the month's withdrawal against those the full build published
    (its version, kept in the serving folder: dagster_project/published.py)."""
    from dagster_project.published import versions_dir

    version = (full.record or {}).get("published_version")
    before = version and versions_dir(settings.serving_db) / version / "warehouse.duckdb"
    if not before or not before.exists():
        return Compared(False, "- month withdrawn: not compared (the full build's published "
                               "version is not kept)")
    rows, problems = marts_differences(before, settings.serving_db, settings.data_dir)
    tables = ", ".join(COMPARED_MARTS)
    if not problems:
        return Compared(True, f"- month withdrawn: {tables} equal the full build's, row for "
                              f"row ({rows:,} rows)")
    return Compared(False, "- month withdrawn: **differs** from the full build: " + "; ".join(
        f"{table} {how}" for table, how in problems.items()))


def _superset_lines(bench: Bench, settings: Settings, partners: int) -> list[str]:
    from dagster_project.bench_superset import time_superset
    from dagster_project.dashboards.server import SupersetError

    _progress("Superset")
    try:
        times = time_superset(settings, bench.tmp / "superset", partners)
    except (SupersetError, OSError) as exc:
        return [f"Superset: not measured ({exc})"]
    return times.lines()


def _add_month(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} month"


def compare_with_marts(floor: list[tuple], marts: list[tuple]) -> str:
    """How far the floor (which skips the quarantine rules) is from the marts."""
    by_key = {(r[0], r[1]): r for r in marts}
    common = [(f, by_key[(f[0], f[1])]) for f in floor if (f[0], f[1]) in by_key]
    if not common:
        return "floor vs marts: no partner-month in common"

    def gap(i: int) -> float:
        return max(abs((f[i] or 0) - (m[i] or 0)) for f, m in common)

    return (f"floor vs marts.kpi_telephony_monthly over {len(common)} of {len(marts)} "
            f"partner-months (the floor skips the quarantine rules): max gap offered "
            f"{gap(2):.0f} calls, TSF {gap(4):.3f} pts, ASA {gap(5):.3f} s, "
            f"abandon rate {gap(6):.3f} pts")


def compare_crm_with_marts(floor: list[tuple], marts: list[tuple]) -> str:
    """How far the CRM floor (no quarantine, duplicates kept) is from the marts."""
    by_key = {(r[0], r[1]): r for r in marts}
    common = [(f, by_key[(f[0], f[1])]) for f in floor if (f[0], f[1]) in by_key]
    if not common:
        return "crm floor vs marts: no partner-month in common"

    def gap(i: int) -> float:
        return max(abs(float(f[i] or 0) - float(m[i] or 0)) for f, m in common)

    channel_gap = max(gap(i) for i in range(4, len(floor[0])))
    return (f"crm floor vs marts.kpi_contact_monthly over {len(common)} of {len(marts)} "
            f"partner-months (the floor skips the quarantine rules): max gap contacts "
            f"{gap(2):.0f}, FPOC {gap(3):.3f} pts, channel share {channel_gap:.3f} pts")
