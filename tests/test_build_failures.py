"""`hub build` when something is wrong: rejected landing files, strict mode, a build that fails
after publishing once, an invalid partner configuration. On a tiny landing folder (the real
PhoneNow export only), so each build costs little."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import PARTNERS_DIR, REALDATA_DIR, copy_data_dir, hub, hub_env
from tests.test_build import sha256


def _phonenow_only(tmp_path: Path, partners_dir: Path = PARTNERS_DIR) -> dict[str, str]:
    """A tiny landing folder: only the real PhoneNow export (one file, 5,000 calls)."""
    data = tmp_path / "data"
    shutil.copytree(REALDATA_DIR, data / "landing")
    return hub_env(data, HUB_PARTNERS_DIR=str(partners_dir))


@dataclass
class StrictThenLenient:
    env: dict[str, str]
    serving: Path
    strict: subprocess.CompletedProcess
    published_by_strict: bool
    lenient: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def phonenow_warehouse(tmp_path_factory) -> StrictThenLenient:
    """PhoneNow's real export plus a stray folder no partner owns, built with `--strict` (which
    must refuse) and then without (which must publish): the one small full build of the module.
    """
    env = _phonenow_only(tmp_path_factory.mktemp("phonenow"))
    stray = Path(env["HUB_DATA_DIR"]) / "landing" / "newtown" / "telephony" / "calls.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text("a,b\n1,2\n")
    serving = Path(env["HUB_DATA_DIR"]) / "serving" / "warehouse.duckdb"
    strict = hub(env, "build", "--strict", check=False)
    published_by_strict = serving.exists()
    lenient = hub(env, "build", check=False)
    return StrictThenLenient(env, serving, strict, published_by_strict, lenient)


def test_rejected_files_are_reported_and_strict_mode_refuses_to_publish(phonenow_warehouse):
    strict, lenient = phonenow_warehouse.strict, phonenow_warehouse.lenient
    assert strict.returncode == 1, strict.stderr
    assert "landing folder 'newtown' has no partner configuration" in strict.stderr
    assert not phonenow_warehouse.published_by_strict

    assert lenient.returncode == 0, lenient.stderr
    assert "rejected: landing folder 'newtown' has no partner configuration" in lenient.stderr
    assert "hub build: published" in lenient.stdout
    assert phonenow_warehouse.serving.exists()


def test_failed_build_keeps_the_last_good_serving_file(phonenow_warehouse, tmp_path):
    assert phonenow_warehouse.lenient.returncode == 0, phonenow_warehouse.lenient.stderr
    data = tmp_path / "data"
    copy_data_dir(Path(phonenow_warehouse.env["HUB_DATA_DIR"]), data)
    env = {**phonenow_warehouse.env, "HUB_DATA_DIR": str(data)}
    serving = data / "serving" / "warehouse.duckdb"
    good, good_inode = sha256(serving), serving.stat().st_ino

    broken = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, broken)
    config = yaml.safe_load((broken / "phonenow.yml").read_text())
    config["sources"]["telephony"]["queues"]["Streaming"] = "no_such_service_line"
    (broken / "phonenow.yml").write_text(yaml.safe_dump(config))
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        failed = hub({**env, "HUB_PARTNERS_DIR": str(broken)}, "build", check=False)
        assert failed.returncode == 1
        assert "FAILED" in failed.stderr and "left as they were" in failed.stderr
        assert sha256(serving) == good and serving.stat().st_ino == good_inode
        assert reader.execute("select count(*) from marts.fct_calls").fetchone()[0] > 0

        # A good rebuild (a full one: the failed build may have updated some tables and not
        # others) publishes while the reader still holds the old file open: the old reader
        # keeps working and a new reader sees the new file.
        rebuilt = hub(env, "build")
        assert "full build (the previous build did not finish)" in rebuilt.stdout
        assert serving.stat().st_ino != good_inode
        assert reader.execute("select count(*) from marts.fct_calls").fetchone()[0] == 5000
        fresh = duckdb.connect(str(serving), read_only=True)
        assert fresh.execute("select count(*) from marts.fct_calls").fetchone()[0] == 5000
        fresh.close()
    finally:
        reader.close()


def test_invalid_partner_configuration_is_a_clear_error(tmp_path):
    broken = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, broken)
    config = yaml.safe_load((broken / "eastbrook.yml").read_text())
    config["sources"]["telephony"]["timestamp_format"] = "%m-%d-%Y"
    (broken / "eastbrook.yml").write_text(yaml.safe_dump(config))
    result = hub(_phonenow_only(tmp_path, broken), "build", check=False)
    assert result.returncode == 2
    assert "eastbrook.yml" in result.stderr and "timestamp_format" in result.stderr
