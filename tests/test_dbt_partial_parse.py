"""dbt's partial parse survives a new data folder (dagster_project/dbt_cli.py): the profile's
paths of the data folder are hashed by name, anything else in it by value."""

from __future__ import annotations

import json

from dagster_project.dbt_cli import profile_text


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


def test_a_new_data_folder_parses_only_what_changed(built_warehouse):
    """The session warehouse's first build, in a new data folder, reused the project's parse
    (dbt's own debug log says so) and its manifest lists every model."""
    messages = [json.loads(line)["info"]["msg"]
                for log in sorted(built_warehouse.dbt_target_dir.glob("dbt.log*"))
                for line in log.read_text(encoding="utf-8").splitlines()
                if ("pars" in line or "Unable" in line) and line.startswith("{")]
    assert any(m.startswith("Partial parsing enabled") for m in messages), messages[:20]
    assert not [m for m in messages if "Starting full parse" in m or "Unable to do partial" in m]
    manifest = json.loads((built_warehouse.dbt_target_dir / "manifest.json").read_text())
    models = [n for n in manifest["nodes"] if n.startswith("model.")]
    assert len(models) >= 50
