"""`hub bench --scenarios`: the real `hub build` timed in a subprocess, with the peak resident
memory of its whole process tree (the build, dbt, any worker), from /proc: the larger of the
tree's resident memory sampled every SAMPLE_SECONDS and the sum of its processes' high-water
marks (VmHWM, which the kernel keeps, so a spike shorter than a sample is not missed). After a
month is withdrawn, the board's figures are compared row for row with the full build's
(`marts_differences`)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

from dagster_project import duck
from dagster_project.build_record import record_written_since
from dagster_project.supervisor import stop

SAMPLE_SECONDS = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Paths `hub build` reads from the environment: the bench sets them, never inherits them.
PATH_VARS = ("HUB_DATA_DIR", "HUB_LANDING_DIR", "HUB_WORK_DB", "HUB_SERVING_DB",
             "HUB_OPERATIONS_DB", "HUB_PARTNERS_DIR", "DAGSTER_HOME")


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident bytes) of every process /proc shows."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        # fields[0] is the state (field 3 of proc(5)): ppid is field 4, rss (pages) field 24
        out[int(entry.name)] = (int(fields[1]), int(fields[21]) * PAGE_BYTES)
    return out


def _tree(root: int) -> dict[int, int]:
    """pid -> resident bytes of `root` and all its descendants."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            tree[pid] = procs[pid][1]
        todo.extend(children.get(pid, ()))
    return tree


def high_water(pid: int) -> int:
    """The most bytes `pid` has held resident so far (VmHWM), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the tree of `pid` every `SAMPLE_SECONDS` in a thread. `peak` is the larger of
    the largest sampled total and the sum of the high-water marks of every process seen in
    the tree (each read while it runs): an upper bound of the tree's peak, exact for a tree of
    one process, where `hub build`'s own process holds all but a few tens of MiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.sampled = pid, 0
        self.high_waters: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def peak(self) -> int:
        return max(self.sampled, sum(self.high_waters.values()))

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _tree(self.pid)
            self.sampled = max(self.sampled, sum(tree.values()))
            for pid in tree:
                self.high_waters[pid] = max(self.high_waters.get(pid, 0), high_water(pid))
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclasses.dataclass
class BuildRun:
    name: str
    command: str
    seconds: float
    peak_rss: int
    rows_by_source: dict[str, int]
    stdout: str
    stderr: str
    returncode: int
    record: dict | None = None  # the build's record (data/logs/build-*.json)

    @property
    def rows_loaded(self) -> int:
        return sum(self.rows_by_source.values())

    def where_the_time_went(self, nodes: int = 5) -> str:
        """One line from the build's record: its stages' seconds and its longest dbt nodes."""
        if not self.record:
            return f"- {self.name}: no build record"
        seconds = self.record.get("seconds") or {}
        stages = ", ".join(f"{STAGE_NAMES.get(k, k)} {v:.1f} s" for k, v in seconds.items()
                           if k != "total")
        line = f"- {self.name}: {stages}"
        dbt = self.record.get("dbt_nodes")
        if dbt:
            longest = ", ".join(f"{n['node'][:60]} {n['seconds']:.1f} s"
                                for n in dbt["longest"][:nodes])
            line += (f"; dbt ran {dbt['count']} nodes ({dbt['seconds']:.1f} node-seconds), "
                     f"the longest: {longest}")
        return line


STAGE_NAMES = {"publish": "publication"}


def hub_command() -> list[str]:
    exe = Path(sys.executable).with_name("hub")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dagster_project.cli"]


def hub_env(data_dir: Path, partners_dir: Path,
            tmp_dir: Path | None = None) -> dict[str, str]:
    """This environment without hub paths, pointed at the bench's data and partners folders
    (and, with `tmp_dir`, its temporary files: TMPDIR)."""
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARS}
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmp_dir)
    env.update(HUB_DATA_DIR=str(data_dir), HUB_PARTNERS_DIR=str(partners_dir),
               DAGSTER_HOME=str(data_dir / "dagster_home"))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # the bench's files were generated a moment ago, whole (written, then renamed): no settle
    # interval (quiet periods, ingest/settle.py)
    env["HUB_SETTLE_SECONDS"] = "0"
    return env


def build_supports_full_refresh(env: dict[str, str]) -> bool:
    proc = subprocess.run([*hub_command(), "build", "--help"], env=env, capture_output=True,
                          text=True, check=False)
    return "--full-refresh" in proc.stdout


def rows_by_source(stdout: str) -> dict[str, int]:
    """Rows loaded per source, from `hub build`'s `load:` lines ("<source> files: ...; rows
    loaded N; ...")."""
    return {source: int(n.replace(",", "")) for source, n in
            re.findall(r"(\w+) files: [^\n]*?rows loaded ([\d,]+)", stdout)}


def run_hub_build(name: str, args: list[str], env: dict[str, str]) -> BuildRun:
    """Run `hub <args>`, timing it and sampling its process tree's memory."""
    started_at = time.time()
    start = time.perf_counter()
    proc = subprocess.Popen([*hub_command(), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with PeakRss(proc.pid) as rss:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:  # the bench stopped (Ctrl-C, SIGTERM): its build stops first,
            # so that the bench removes its folder only once nothing writes in it
            stop(proc, timeout=BUILD_STOP_SECONDS)
            raise
    seconds = time.perf_counter() - start
    return BuildRun(name, "hub " + " ".join(args), seconds, rss.peak, rows_by_source(stdout),
                    stdout, stderr, proc.returncode,
                    record_written_since(Path(env["HUB_DATA_DIR"]), started_at - 1))


# How long a stopped bench waits for its `hub build` to stop after SIGTERM (a build stopped
# during dbt cancels its queries and closes its files first) before it kills it.
BUILD_STOP_SECONDS = 60


def move_files(files: list[Path], source_root: Path, target_root: Path) -> int:
    """Move landing files (keeping their `<partner>/<source>/` path); returns how many."""
    for path in files:
        target = target_root / path.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    return len(files)


def disk_use(root: Path) -> int:
    """Bytes allocated on disk under `root` (like `du -s`: st_blocks, each file once); files and
    folders vanishing meanwhile are skipped."""
    total, todo, seen = 0, [str(root)], set()
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


class DiskPeak:
    """Samples `disk_use(root)` in a thread (every `min_seconds`, or 20 x the last walk's time
    when longer, so the walk costs under 5 % of a core) and after each `stage(name)`; `peak` is
    the largest sample, `peak_stage` the stage running then (`during <name>`), `after` the use
    after each stage."""

    def __init__(self, root: Path, min_seconds: float = 2.0) -> None:
        self.root, self.min_seconds = root, min_seconds
        self.peak, self.peak_stage, self.current = 0, "", "before the first stage"
        self.after: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        used = disk_use(self.root)
        with self._lock:
            if used > self.peak:
                self.peak, self.peak_stage = used, self.current
        return used

    def stage(self, name: str) -> None:
        """`name` has ended: record the use now; later samples belong to the next stage."""
        self.after.append((name, self.sample()))
        with self._lock:
            if self.peak_stage == self.current:  # sampled since the previous stage ended
                self.peak_stage = f"during {name}"
        self.current = f"after {name}"

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            self.sample()
            self._stop.wait(max(self.min_seconds, 20 * (time.perf_counter() - start)))

    def __enter__(self) -> DiskPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# The marts compared after the new month is withdrawn: issue 9's figures of "incremental equals
# from scratch" (the board's monthly telephony and contact figures and the scorecard). They
# hold no lineage column, so the same landing files give the same rows whatever the builds.
COMPARED_MARTS = ("kpi_telephony_monthly", "kpi_contact_monthly", "kpi_scorecard")


def marts_differences(left: Path, right: Path, data_dir: Path | None = None,
                      tables: tuple[str, ...] = COMPARED_MARTS) -> tuple[int, dict[str, str]]:
    """Compare `tables` of the marts schema of two served files row for row (DuckDB's `except
    all`, both ways, duplicates counted; spilling under `data_dir`): the rows compared (of
    `left`), and, for each table that differs, how."""
    con = duck.connect(data_dir=data_dir)
    try:
        con.execute(f"attach '{left}' as left_file (read_only)")
        con.execute(f"attach '{right}' as right_file (read_only)")
        rows, problems = 0, {}
        for table in tables:
            sides = [f"{side}.marts.{table}" for side in ("left_file", "right_file")]
            try:
                rows += con.execute(f"select count(*) from {sides[0]}").fetchone()[0]
                only = [con.execute(f"select count(*) from (from {a} except all from {b})")
                        .fetchone()[0] for a, b in (sides, sides[::-1])]
            except duckdb.Error as exc:  # a table missing, or other columns
                problems[table] = f"not comparable ({str(exc).splitlines()[0]})"
                continue
            if any(only):
                problems[table] = f"{only[0]:,} rows only before, {only[1]:,} only after"
        return rows, problems
    finally:
        con.close()
