"""`hub build` on a warehouse already built and published: nothing new, a rejected landing file
in strict mode, a build that fails, the build that recovers; and an invalid partner
configuration.

One sequence of builds on a copy of the session warehouse (module fixture `rebuilds`), in this
order, each test checking its part:

1. `hub build` with nothing new: no dbt work, the published files untouched;
2. a stray landing folder no partner owns, `hub build --strict`: refused, files untouched;
3. a copy of the dbt project with a broken model (`HUB_HOME`): the build fails inside dbt, the
   published files untouched, a reader keeps reading them (a broken partner YAML no longer
   gets that far: it is refused before loading, test_partner_schema.py);
4. the repository's project again, `hub build` (not strict): a full build (the failed one may have
   left some tables updated and others not) that reports the stray folder, publishes while the
   reader still holds the old file open, and serves the same figures: every marts table equals
   the session's build from scratch of the same files, row for row (builds are deterministic).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

import duckdb
import pytest
import yaml

from dagster_project.settings import REPO_ROOT
from tests.conftest import PARTNERS_DIR, REALDATA_DIR, copy_data_dir, hub, hub_env
from tests.marts_compare import differences, marts_rows
from tests.test_build import sha256

CALLS = "select count(*) from marts.fct_calls"
STRAY = "landing folder 'newtown' has no partner configuration"

FileState = tuple[int, int, str]  # inode, mtime (ns), sha-256


@dataclass
class Rebuilds:
    initial: list[FileState]
    calls: int  # marts.fct_calls rows served before the sequence
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    after: dict[str, list[FileState]] = field(default_factory=dict)
    reader_calls: dict[str, int] = field(default_factory=dict)  # read through the old file
    fresh_calls: int | None = None  # read through a new connection after step 4
    marts_differences: list[str] = field(default_factory=list)  # step 4 vs the session build


@pytest.fixture(scope="module")
def rebuilds(built_warehouse, tmp_path_factory) -> Rebuilds:
    root = tmp_path_factory.mktemp("rebuilds")
    data = copy_data_dir(built_warehouse.data_dir, root / "data")
    env = hub_env(data)
    published = [data / "serving" / "warehouse.duckdb", data / "serving" / "operations.duckdb"]

    def state() -> list[FileState]:
        return [(p.stat().st_ino, p.stat().st_mtime_ns, sha256(p)) for p in published]

    reader = duckdb.connect(str(published[0]), read_only=True)
    try:
        seq = Rebuilds(initial=state(), calls=reader.execute(CALLS).fetchone()[0])

        def step(name: str, run_env: dict[str, str], *args: str) -> None:
            seq.runs[name] = hub(run_env, "build", *args, check=False)
            seq.after[name] = state()
            seq.reader_calls[name] = reader.execute(CALLS).fetchone()[0]

        step("nothing_new", env)
        stray = data / "landing" / "newtown" / "telephony" / "calls.csv"
        stray.parent.mkdir(parents=True)
        stray.write_text("a,b\n1,2\n")
        step("strict", env, "--strict")
        # a build that fails inside dbt: a copy of the project whose scorecard model reads a
        # relation that does not exist (a partner YAML error would stop it before loading)
        broken = root / "home"
        for folder in ("dbt", "seeds"):
            shutil.copytree(REPO_ROOT / folder, broken / folder,
                            ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
        scorecard = broken / "dbt" / "models" / "marts" / "kpi" / "kpi_scorecard.sql"
        scorecard.write_text(scorecard.read_text().replace("select * from final",
                                                           "select * from final_missing"))
        step("failed", {**env, "HUB_HOME": str(broken)})
        step("recovered", env)
    finally:
        reader.close()
    with duckdb.connect(str(published[0]), read_only=True) as fresh:
        seq.fresh_calls = fresh.execute(CALLS).fetchone()[0]
    seq.marts_differences = differences(marts_rows(published[1]),
                                        marts_rows(built_warehouse.operations_db))
    return seq


def test_build_with_nothing_new_leaves_the_served_files_untouched(rebuilds):
    run = rebuilds.runs["nothing_new"]
    assert run.returncode == 0, run.stderr
    assert "hub build: nothing new" in run.stdout
    assert "dbt: nothing new since the last published build" in run.stdout
    assert "left untouched" in run.stdout
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


def test_two_builds_from_scratch_give_identical_marts(rebuilds):
    """Step 4 rebuilt every dbt table from the same loaded files as the session's build: every
    marts table is the same, row for row and to the last digit (money and ratios are exact
    decimals, docs/architecture.md "Incremental builds")."""
    assert "dbt: full build" in rebuilds.runs["recovered"].stdout
    assert rebuilds.marts_differences == []


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
