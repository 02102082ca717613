"""DuckDB's limits on every connection the hub opens (dagster_project/duck.py): the memory
limit's default share and cap, `HUB_MEMORY_LIMIT`, threads and the spill folder, read back from
a real connection."""

from __future__ import annotations

import pytest
import yaml

from dagster_project import duck
from dagster_project.settings import REPO_ROOT

GIB = 1024**3


@pytest.mark.parametrize(("machine_gib", "expected"), [
    (8, "2048MiB"),  # a quarter of an 8 GiB laptop
    (11, "2816MiB"),  # a quarter would be 2.75 GiB: the cap itself
    (24, "2816MiB"),  # this machine: the cap (a scale-10 build then peaks under 4 GiB)
    (256, "2816MiB"),
])
def test_the_default_is_a_quarter_of_the_machine_at_most_the_cap(monkeypatch, machine_gib,
                                                                 expected):
    monkeypatch.delenv("HUB_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(duck, "machine_memory_bytes", lambda: machine_gib * GIB)
    assert duck.memory_limit() == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("3GB", "2861MiB"), ("800MB", "762MiB"), ("4GiB", "4096MiB"), (" 1.5 GiB ", "1536MiB")])
def test_hub_memory_limit_overrides_the_default(monkeypatch, value, expected):
    monkeypatch.setenv("HUB_MEMORY_LIMIT", value)
    assert duck.memory_limit() == expected


def test_a_size_that_is_not_one_names_the_variable(monkeypatch):
    monkeypatch.setenv("HUB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="HUB_MEMORY_LIMIT='lots'"):
        duck.memory_limit()


def test_a_connection_carries_the_limits(monkeypatch, tmp_path):
    monkeypatch.setenv("HUB_MEMORY_LIMIT", "1GiB")
    monkeypatch.setenv("HUB_THREADS", "1")
    con = duck.connect(tmp_path / "w.duckdb", data_dir=tmp_path)
    try:
        limit, threads, spill = con.execute(
            "select current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')").fetchone()
    finally:
        con.close()
    assert limit in ("1.0 GiB", "1024.0 MiB"), limit
    assert threads == 1
    assert spill == str(tmp_path / "tmp" / "duckdb") and (tmp_path / "tmp" / "duckdb").is_dir()


def test_the_allocator_settings_are_those_of_every_connection_and_of_dbt(tmp_path):
    """DuckDB's allocator settings (duck.ALLOCATOR) reach a connection, and dbt's profile
    sets the same values."""
    con = duck.connect(tmp_path / "w.duckdb", data_dir=tmp_path)
    try:
        applied = dict(con.execute(
            "select name, value from duckdb_settings() where name like 'allocator%'").fetchall())
    finally:
        con.close()
    assert applied["allocator_background_threads"] == "true"
    assert applied["allocator_flush_threshold"] in ("32MiB", "32.0 MiB")
    assert applied["allocator_bulk_deallocation_flush_threshold"] == "64.0 MiB"
    profile = yaml.safe_load((REPO_ROOT / "dbt" / "profiles.yml").read_text())
    options = profile["hub_warehouse"]["outputs"]["work"]["config_options"]
    assert ({name: str(options[name]).lower() for name in duck.ALLOCATOR}
            == {name: value.lower() for name, value in duck.ALLOCATOR.items()})
