"""Run dbt (dbt-duckdb) against the working warehouse, outside Dagster (CLI, benchmarks)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dagster_project import duck
from dagster_project.settings import Settings

# What a build runs: every model, seed and data test. dbt unit tests check the SQL, not the
# data, so they run in `make test` (tests/test_dbt_unit.py), not in every build.
BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")


def build_args() -> tuple[str, ...]:
    """BUILD_ARGS, and `--no-write-json` unless DBT_WRITE_JSON is set: a build's dbt would
    otherwise write manifest.json twice and run_results.json once (about 0.4 CPU-seconds of
    every build, whatever it changes), which nothing a build does reads; the build's log has
    each node's result and time. DBT_WRITE_JSON=true keeps them for a diagnosis. dbt's parse
    (ensure_manifest) and the unit tests' runs write theirs as before."""
    return BUILD_ARGS if os.environ.get("DBT_WRITE_JSON") else (*BUILD_ARGS, "--no-write-json")


class DbtError(RuntimeError):
    """dbt exited non-zero; the message carries the tail of its output."""


# dbt's own log file (<target>/dbt.log) records warnings and errors only unless
# DBT_LOG_LEVEL_FILE says otherwise (debug, for a diagnosis): at dbt's default, debug, it is
# about 10 MB of JSON and 1-2 CPU-seconds of every build, and the build's log (data/logs) keeps
# dbt's output at info level anyway.
FILE_LOG_LEVEL = ("DBT_LOG_LEVEL_FILE", "warn")


def dbt_variables(settings: Settings) -> dict[str, str]:
    """What dbt's environment must hold: the profile's variables (the data folder's files,
    DuckDB's limits, dbt's threads) and, unless the environment sets them, dbt's file log level
    and no usage statistics."""
    values = {"HUB_WORK_DB": str(settings.work_db), "HUB_MARTS_DB": str(settings.marts_db),
              **duck.dbt_env_vars(settings.data_dir)}
    for key, default in (FILE_LOG_LEVEL, ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")):
        if key not in os.environ:
            values[key] = default
    return values


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment of a dbt process: this one's, with dbt_variables."""
    return {**os.environ, **dbt_variables(settings)}


def dbt_executable() -> str:
    """dbt's command line through `hub-dbt` (dagster_project/dbt_cli.py: dbt that dies with the
    process that started it, and whose partial parse survives a new data folder): the
    project's parse. The dbt of `hub build`, `hub check` and `hub bench` runs in their own
    process (dagster_project/dbt_in_process.py)."""
    wrapper = Path(sys.executable).with_name("hub-dbt")
    # an environment installed before `hub-dbt` existed (make install adds it): plain dbt
    return str(wrapper if wrapper.exists() else wrapper.with_name("dbt"))


PARTIAL_PARSE = "partial_parse.msgpack"


def seed_partial_parse(settings: Settings, target_dir: Path) -> None:
    """Give a dbt target folder with no partial parse of its own the project's (dbt/target,
    made by ensure_manifest): dbt then parses only what changed since, instead of the whole
    project (about 6 CPU-seconds), in every new data folder. Copied under a temporary name and
    renamed, so dbt never reads half a file (it would re-parse in full if it did)."""
    source = settings.dbt_project_dir / "target" / PARTIAL_PARSE
    target = Path(target_dir) / PARTIAL_PARSE
    if target.exists() or not source.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{PARTIAL_PARSE}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def dbt_invocation(settings: Settings, *args: str) -> tuple[list[str], dict[str, str], Path]:
    """`dbt <args>` in the project: its command line, environment and working folder."""
    cmd = [dbt_executable(), *args, "--project-dir", str(settings.dbt_project_dir),
           "--profiles-dir", str(settings.dbt_project_dir)]
    return cmd, dbt_env(settings), settings.dbt_project_dir


def dbt_process(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """Run `dbt <args>` in the project and return the finished process, whatever its exit."""
    cmd, env, cwd = dbt_invocation(settings, *args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd, check=False)


def run_dbt(settings: Settings, *args: str) -> str:
    """Run `dbt <args>` in the project; return its output or raise DbtError."""
    proc = dbt_process(settings, *args)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise DbtError(f"`dbt {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def manifest_path(settings: Settings) -> Path:
    return settings.dbt_project_dir / "target" / "manifest.json"


# DuckDB's settings in the profile, which dbt hashes by value (the data folder's paths it
# hashes by name: dagster_project/dbt_cli.py): a parse made under other values is no seed.
PROFILE_SETTINGS = ("HUB_DUCKDB_MEMORY_LIMIT", "HUB_DUCKDB_THREADS")
PARSED_SETTINGS = ".hub_parsed_settings"


def _profile_settings(settings: Settings) -> str:
    variables = dbt_variables(settings)
    return "\n".join(f"{name}={variables[name]}" for name in PROFILE_SETTINGS)


def manifest_is_current(settings: Settings) -> bool:
    """The project's parse (dbt/target) exists, is newer than every project file and was made
    under this process's DuckDB settings (another HUB_MEMORY_LIMIT or HUB_THREADS, or another
    default, would make its partial parse no seed for a new data folder)."""
    manifest = manifest_path(settings)
    if not manifest.exists():
        return False
    watched = [settings.dbt_project_dir / d for d in ("models", "macros", "tests", "seeds")]
    watched.append(settings.home / "seeds" / "reference")
    newest = max((p.stat().st_mtime for d in watched if d.exists() for p in d.rglob("*")
                  if p.is_file()), default=0.0)
    newest = max(newest, (settings.dbt_project_dir / "dbt_project.yml").stat().st_mtime)
    stamp = manifest.with_name(PARSED_SETTINGS)
    return (manifest.stat().st_mtime >= newest and stamp.exists()
            and stamp.read_text(encoding="utf-8") == _profile_settings(settings))


# What `dbt parse` writes that ensure_manifest hands over to dbt/target, the stamp last.
PARSE_FILES = (PARTIAL_PARSE, "manifest.json", "semantic_manifest.json", "perf_info.json")


def ensure_manifest(settings: Settings) -> Path:
    """Parse the dbt project unless its parse is current (manifest_is_current):
    seed_partial_parse hands that parse to every new data folder.

    Processes take turns (`fcntl.flock` on dbt/target/.parse.lock; one that waited finds the
    parse current and does nothing). dbt rewrites its files in place, so it parses into a
    folder of its own and each file is renamed over the project's: a process reading
    manifest.json meanwhile (the dashboards' bundle, Dagster's dbt assets) reads the old file
    or the new one, never half of one; hub processes under other DuckDB settings (another
    HUB_MEMORY_LIMIT) each parse again."""
    target = manifest_path(settings).parent
    if manifest_is_current(settings):
        return target / "manifest.json"
    target.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(target / ".parse.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        for stale in target.glob(".parse-*"):  # a parse killed before it could remove its own
            shutil.rmtree(stale, ignore_errors=True)
        if not manifest_is_current(settings):
            with tempfile.TemporaryDirectory(prefix=".parse-", dir=target) as folder:
                parsed = Path(folder)
                seed_partial_parse(settings, parsed)
                run_dbt(settings, "parse", "--quiet", "--target-path", str(parsed))
                stamp = parsed / PARSED_SETTINGS
                stamp.write_text(_profile_settings(settings), encoding="utf-8")
                for name in (*PARSE_FILES, PARSED_SETTINGS):
                    if (parsed / name).exists():
                        os.replace(parsed / name, target / name)
    finally:
        os.close(lock_fd)  # releases the flock
    return target / "manifest.json"
