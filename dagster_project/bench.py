"""`hub bench --scale X`: time generate, load (telephony, then CRM with its pseudonymisation),
transform and publish, against a floor.

The floor is one DuckDB statement computing the same monthly TSF, ASA and abandon rate straight
from the same landing files (Excel and Windows-1252 files are converted to UTF-8 CSV first,
outside the timer, since DuckDB cannot read them here). Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from dagster_project.build_plan import plan_for_dbt
from dagster_project.dbt_runner import BUILD_ARGS, run_dbt
from dagster_project.ingest import load_source, write_partner_config
from dagster_project.ingest.discovery import discover_files
from dagster_project.ingest.readers import readable_csv
from dagster_project.partners import PartnerConfig, SourceConfig, load_partners
from dagster_project.privacy import pseudonymisation_key
from dagster_project.publish import publish
from dagster_project.settings import Settings

SHORT_ABANDON_S = 5
TSF_THRESHOLD_S = 15


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
            path, _encoding, delimiter = readable_csv(f.path, cfg, sub)
            paths.append(path)
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


@dataclasses.dataclass
class Stage:
    name: str
    seconds: float
    rows: int

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0
        return f"| {self.name} | {self.seconds:8.2f} | {self.rows:>12,} | {rate:>14,.0f} |"


def run_bench(scale: float, months: int = 24, seed: int = 42, keep: bool = False) -> int:
    from dagster_project.generate import generate_sample

    base = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix=f"hub-bench-{scale:g}-"))
    settings = dataclasses.replace(
        base, data_dir=tmp, landing_dir=tmp / "landing", work_db=tmp / "work" / "wh.duckdb",
        serving_db=tmp / "serving" / "wh.duckdb", operations_db=tmp / "serving" / "ops.duckdb",
        dagster_home=tmp / "dagster")
    settings.ensure_dirs()
    partners = load_partners(settings.partners_dir, settings.dbt_project_dir)
    stages: list[Stage] = []
    try:
        t = time.perf_counter()
        report = generate_sample(settings.landing_dir, settings.partners_dir, months=months,
                                 seed=seed, scale=scale)
        gen_s = time.perf_counter() - t

        t = time.perf_counter()
        con = duckdb.connect(str(settings.work_db))
        write_partner_config(con, partners)
        con.close()
        load = load_source(settings.work_db, settings.landing_dir, partners, "telephony")
        stages.append(Stage("load telephony (raw)", time.perf_counter() - t, load.rows_loaded))
        t = time.perf_counter()
        crm = load_source(settings.work_db, settings.landing_dir, partners, "crm",
                          pseudonymisation_key=pseudonymisation_key(settings))
        stages.append(Stage("load crm (raw, pseudonymised)", time.perf_counter() - t,
                            crm.rows_loaded))
        rows = load.rows_loaded + crm.rows_loaded
        stages.insert(0, Stage("generate", gen_s, rows))

        t = time.perf_counter()
        plan_for_dbt(settings)  # a fresh working file: the plan of a full build, read by dbt
        # dbt's artifacts go to the bench's folder, not the project's dbt/target (which a
        # `hub build` running meanwhile reads); partial parsing still applies.
        target = tmp / "dbt-target"
        target.mkdir()
        partial = settings.dbt_project_dir / "target" / "partial_parse.msgpack"
        if partial.exists():
            shutil.copyfile(partial, target / partial.name)
        run_dbt(settings, *BUILD_ARGS, "--quiet", "--target-path", str(target))
        stages.append(Stage("transform (dbt build)", time.perf_counter() - t, rows))

        t = time.perf_counter()
        publish(settings.work_db, settings.serving_db, settings.operations_db)
        stages.append(Stage("publish", time.perf_counter() - t, rows))

        floor_sql = floor_statement(settings, partners, tmp / "floor")
        t = time.perf_counter()
        floor = duckdb.connect().execute(floor_sql).fetchall()
        stages.append(Stage("floor: one DuckDB statement", time.perf_counter() - t,
                            load.rows_loaded))
        con = duckdb.connect(str(settings.serving_db), read_only=True)
        marts = con.execute(
            "select partner_code, month, offered, short_abandoned, round(tsf_pct, 6), "
            "round(asa_seconds, 6), round(abandon_rate_pct, 6) from marts.kpi_telephony_monthly "
            "order by 1, 2").fetchall()
        con.close()
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"hub bench: scale {scale:g}, {months} months, seed {seed}; "
          f"{report.summary().splitlines()[0] if report else ''}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"DuckDB {duckdb.__version__}")
    print("| stage | seconds | rows | rows per second |\n|---|---:|---:|---:|")
    for stage in stages:
        print(stage.line())
    print(compare_with_marts(floor, marts))
    return 0


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
