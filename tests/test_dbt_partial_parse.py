"""dbt's partial parse survives a new data folder (dagster_project/dbt_cli.py): the profile's
paths of the data folder are hashed by name, anything else in it by value."""

from __future__ import annotations

import dataclasses
import json
import shutil

from dagster_project.dbt_cli import profile_text
from dagster_project.dbt_runner import (
    PARSED_SETTINGS,
    ensure_manifest,
    manifest_is_current,
    seed_partial_parse,
)
from dagster_project.settings import REPO_ROOT, Settings
from tests.forked_hub import run_dbt


def _info(folder: str, memory: str = "3072MiB"):
    return [("path", f"{folder}/work/warehouse.duckdb"), ("database", "warehouse"),
            ("attach", [{"path": f"{folder}/work/warehouse.marts.duckdb", "alias": "marts_db"}]),
            ("config_options", {"memory_limit": memory,
                                "temp_directory": f"{folder}/tmp/duckdb"})]


def _env(folder: str) -> dict[str, str]:
    return {"HUB_WORK_DB": f"{folder}/work/warehouse.duckdb",
            "HUB_MARTS_DB": f"{folder}/work/warehouse.marts.duckdb",
            "HUB_DUCKDB_TEMP_DIR": f"{folder}/tmp/duckdb"}


def test_the_data_folder_paths_are_hashed_by_name():
    one, two = profile_text(_info("/a"), _env("/a")), profile_text(_info("/b/c"), _env("/b/c"))
    assert one == two
    assert "/a" not in one and "$HUB_MARTS_DB" in one and "$HUB_WORK_DB" in one


def test_any_other_profile_change_still_counts():
    assert (profile_text(_info("/a"), _env("/a"))
            != profile_text(_info("/a", memory="1024MiB"), _env("/a")))
    # a path not named by the variables (another file name) stays in the text
    assert profile_text(_info("/a"), _env("/b")) != profile_text(_info("/b"), _env("/b"))


def test_a_new_data_folder_parses_only_what_changed(tmp_path):
    """A data folder dbt never saw, its target seeded with the project's parse
    (dbt_runner.seed_partial_parse): dbt parses no file of the project again."""
    data = tmp_path / "data"
    settings = dataclasses.replace(Settings.from_env(), data_dir=data,
                                   work_db=data / "work" / "warehouse.duckdb")
    ensure_manifest(settings)
    target = data / "tmp" / "dbt"
    seed_partial_parse(settings, target)
    proc = run_dbt(settings, "parse", "--target-path", str(target))
    assert proc.returncode == 0, proc.stdout[-2000:]
    perf = json.loads((target / "perf_info.json").read_text())
    assert perf["is_partial_parse_enabled"] and perf["path_count"] >= 200, perf
    assert perf["parsed_path_count"] == 0, perf
    manifest = json.loads((target / "manifest.json").read_text())
    assert len([n for n in manifest["nodes"] if n.startswith("model.")]) >= 50


def test_a_parse_under_other_duckdb_settings_is_not_current(tmp_path, monkeypatch):
    """The project's parse seeds every new data folder only under the settings it was made
    with: another HUB_MEMORY_LIMIT (or default) or HUB_THREADS means parsing again."""
    project = tmp_path / "home" / "dbt"
    (project / "models").mkdir(parents=True)
    (project / "models" / "m.sql").write_text("select 1 as x\n")
    (project / "dbt_project.yml").write_text("name: x\n")
    settings = dataclasses.replace(Settings.from_env(), home=tmp_path / "home",
                                   data_dir=tmp_path / "data")
    monkeypatch.setenv("HUB_MEMORY_LIMIT", "1GiB")
    monkeypatch.setenv("HUB_THREADS", "2")
    assert not manifest_is_current(settings)  # never parsed
    target = project / "target"
    target.mkdir()
    (target / "manifest.json").write_text("{}")
    assert not manifest_is_current(settings)  # parsed by a hub that wrote no settings
    (target / PARSED_SETTINGS).write_text(
        "HUB_DUCKDB_MEMORY_LIMIT=1024MiB\nHUB_DUCKDB_THREADS=2")
    assert manifest_is_current(settings)
    monkeypatch.setenv("HUB_MEMORY_LIMIT", "2GiB")
    assert not manifest_is_current(settings)
    monkeypatch.setenv("HUB_MEMORY_LIMIT", "1GiB")
    monkeypatch.setenv("HUB_THREADS", "1")
    assert not manifest_is_current(settings)


def test_a_parse_again_replaces_the_projects_files_whole(tmp_path, monkeypatch):
    """A hub process under other DuckDB settings parses the project again (above). dbt writes
    its files in place, so it parses into a folder of its own and each file is renamed over
    the project's: a process that opened manifest.json before reads the old file whole, and a
    process reading afterwards the new one, never half of one (a test reading the manifest
    beside such a parse once failed on half a file)."""
    project = tmp_path / "home" / "dbt"
    (project / "models").mkdir(parents=True)
    for n in range(40):
        (project / "models" / f"m{n}.sql").write_text(f"select {n} as x\n")
    (project / "dbt_project.yml").write_text("name: x\nprofile: hub_warehouse\n")
    shutil.copyfile(REPO_ROOT / "dbt" / "profiles.yml", project / "profiles.yml")
    settings = dataclasses.replace(Settings.from_env(), home=tmp_path / "home",
                                   data_dir=tmp_path / "data")
    monkeypatch.setenv("HUB_MEMORY_LIMIT", "1GiB")
    (project / "target" / ".parse-killed").mkdir(parents=True)  # a parse killed midway
    manifest = ensure_manifest(settings)
    first = manifest.read_text()
    assert json.loads(first)["metadata"]["dbt_version"]
    with manifest.open() as opened:
        monkeypatch.setenv("HUB_MEMORY_LIMIT", "2GiB")
        assert not manifest_is_current(settings)
        assert ensure_manifest(settings) == manifest
        assert opened.read() == first  # the file it opened was replaced, not rewritten
    again = json.loads(manifest.read_text())
    assert len([n for n in again["nodes"] if n.startswith("model.")]) == 40
    assert manifest_is_current(settings)
    assert (manifest.parent / PARSED_SETTINGS).read_text().startswith(
        "HUB_DUCKDB_MEMORY_LIMIT=2048MiB")
    assert not [p.name for p in manifest.parent.iterdir() if p.name.startswith(".parse-")]
