"""DuckDB's freed memory is overwritten before it is reused (dagster_project/freed_memory.py):
clear personal values held by the loader never reach a database file through the bytes DuckDB
writes uninitialised."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from dagster_project import freed_memory
from dagster_project.settings import REPO_ROOT


@pytest.mark.parametrize(("before", "after"), [
    (None, "junk:free"),
    ("", "junk:free"),
    ("narenas:2", "narenas:2,junk:free"),
    ("junk:false", "junk:false,junk:free"),
    ("junk:free,narenas:2", "junk:free,narenas:2"),
    ("junk:true", "junk:true"),
    ("junk:free,junk:alloc", "junk:free,junk:alloc,junk:free"),
])
def test_request_adds_the_option_unless_freed_memory_is_already_filled(before, after):
    environ = {} if before is None else {freed_memory.ENV: before}
    freed_memory.request(environ)
    assert environ[freed_memory.ENV] == after


def test_freed_memory_is_overwritten_in_a_process_of_the_hub():
    # the test process imported dagster_project (conftest) before DuckDB started
    if freed_memory.in_effect() is None:
        pytest.skip("this DuckDB has no jemalloc of its own: the option cannot be read")
    assert freed_memory.in_effect() is True


def _python(script: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != freed_memory.ENV}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_personal_values_are_refused_when_duckdb_started_first():
    done = _python("""
        import duckdb
        con = duckdb.connect()
        con.execute("select 1").fetchall()  # DuckDB's allocator starts with its defaults
        from dagster_project import freed_memory
        from dagster_project.privacy import register_udfs
        if freed_memory.in_effect() is None:
            raise SystemExit(3)
        try:
            register_udfs(con, "x" * 20)
        except freed_memory.FreedMemoryNotOverwritten as exc:
            print(exc)
            raise SystemExit(2)
    """)
    if done.returncode == 3:
        pytest.skip("this DuckDB has no jemalloc of its own: the option cannot be read")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "DUCKDB_JE_MALLOC_CONF=junk:free" in done.stdout
    assert "import dagster_project before duckdb" in done.stdout


def test_personal_values_are_accepted_when_the_package_came_first():
    done = _python("""
        import dagster_project
        import duckdb
        from dagster_project import freed_memory
        from dagster_project.privacy import register_udfs
        con = duckdb.connect()
        register_udfs(con, "x" * 20)
        print(freed_memory.in_effect())
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in {"True", "None"}
