"""The project's `incremental` materialization (dbt/macros/materializations/incremental_append.sql):
with the append strategy it writes a model's rows straight into its table (no temporary copy),
and it still refuses a model whose columns are no longer the table's (`on_schema_change: fail`).

Both on a copy of the session warehouse's working file, in one `dbt run` of two small incremental
models, with every voicemail delivery put in the build's scope (as if re-delivered unchanged): the
pre-hook deletes their rows and the model writes them again, so the table must come back row for
row.
"""

from __future__ import annotations

import json
import re

import pytest

from dagster_project import duck
from tests.conftest import working_file_copy
from tests.forked_hub import run_dbt

REWRITTEN = "int_voicemails__validated"  # unchanged: written again, directly
CHANGED = "int_web_days__validated"  # its stored table gains a column the model does not have
ROWS = f"select * from intermediate.{REWRITTEN} order by all"


@pytest.fixture(scope="module")
def incremental_run(built_warehouse, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("incremental_materialization")
    settings, target = working_file_copy(built_warehouse, tmp)
    work_db = settings.work_db
    with duck.connect_work(work_db) as con:
        before = con.execute(ROWS).fetchall()
        # every voicemail delivery redone, as if each had been re-delivered unchanged
        con.execute("insert into build.scope_deliveries by name select partner_code, source, "
                    "delivery_key, 'replaced' as change from raw.load_files "
                    "where source = 'voicemail'")
        scoped = con.execute("select count(*) from build.scope_deliveries "
                             "where source = 'voicemail'").fetchone()[0]
        con.execute(f"alter table intermediate.{CHANGED} add column extra_column integer")
    proc = run_dbt(settings, "run", "--select", REWRITTEN, CHANGED,
                   "--target-path", str(target), "--log-path", str(tmp / "logs"),
                   "--log-level-file", "debug")
    results = {r["unique_id"].rsplit(".", 1)[-1]: r for r in
               json.loads((target / "run_results.json").read_text())["results"]}
    with duck.connect_work(work_db, read_only=True) as con:
        after = con.execute(ROWS).fetchall()
        leftovers = con.execute("select table_name from duckdb_tables() "
                                "where table_name like '%dbt_tmp%'").fetchall()
    return {"proc": proc, "results": results, "before": before, "after": after,
            "scoped": scoped, "leftovers": leftovers,
            "log": (tmp / "logs" / "dbt.log").read_text(encoding="utf-8")}


def test_an_appended_model_is_written_directly_and_equals_what_it_was(incremental_run):
    result = incremental_run["results"][REWRITTEN]
    assert result["status"] == "success", result["message"]
    assert incremental_run["scoped"] > 0  # the pre-hook deleted rows the model wrote again
    assert incremental_run["before"] and incremental_run["after"] == incremental_run["before"]
    # one write, straight into the table: no temporary copy (dbt-duckdb's own materialization
    # creates "<model>__dbt_tmp<timestamp>" and inserts from it)
    log = incremental_run["log"]
    assert re.search(rf'insert into "\w+"\."intermediate"\."{REWRITTEN}" \(', log)
    assert f"{REWRITTEN}__dbt_tmp" not in log
    assert incremental_run["leftovers"] == []


def test_a_model_whose_columns_changed_is_refused(incremental_run):
    result = incremental_run["results"][CHANGED]
    assert result["status"] == "error"
    assert "The columns of" in result["message"] and "extra_column" in result["message"]
    assert "hub build --full-refresh" in result["message"]
    assert incremental_run["proc"].returncode == 1
