"""tests/marts_compare.py, the row-for-row comparison of two warehouses' marts, finds a changed
value, a missing row, a changed column type and a missing table, and ignores lineage columns."""

from __future__ import annotations

import duckdb

from tests.marts_compare import differences, marts_rows

ROWS = [("a", 1, 2.5, "2024-03-01"), ("b", None, 0.1, "2024-04-01")]


def _warehouse(path, rows, amount_type="double", load_id="L1", extra_table=False):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(f"create table marts.t (code varchar, n integer, amount {amount_type}, "
                    "month date, load_id varchar)")
        con.executemany("insert into marts.t values (?, ?, ?, ?, ?)",
                        [(*row, load_id) for row in reversed(rows)])
        if extra_table:
            con.execute("create table marts.u as select 1 as x")
    return marts_rows(path)


def test_the_same_rows_in_another_order_and_load_are_equal(tmp_path):
    assert differences(_warehouse(tmp_path / "a.duckdb", ROWS),
                       _warehouse(tmp_path / "b.duckdb", ROWS[::-1], load_id="L2")) == []


def test_each_kind_of_difference_is_reported(tmp_path):
    base = _warehouse(tmp_path / "base.duckdb", ROWS)
    changed = _warehouse(tmp_path / "changed.duckdb", [ROWS[0], ("b", None, 0.2, "2024-04-01")])
    (problem,) = differences(base, changed)
    assert "only left [('b', None, 0.1," in problem and "only right [('b', None, 0.2," in problem
    (problem,) = differences(base, _warehouse(tmp_path / "short.duckdb", ROWS[:1]))
    assert problem.startswith("t: 2 vs 1 rows")
    (problem,) = differences(base, _warehouse(tmp_path / "typed.duckdb", ROWS,
                                              amount_type="decimal(10, 2)"))
    assert problem.startswith("t: columns")
    assert differences(base, _warehouse(tmp_path / "more.duckdb", ROWS, extra_table=True)) == [
        "u: only in right"]
