"""The freshness check's query, on real DuckDB files before and after dbt built the marts."""

from __future__ import annotations

import datetime as dt

import duckdb

from dagster_project.quality import partners_missing_month

OCTOBER = dt.date(2026, 10, 1)


def _load_files(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema raw")
    con.execute("create table raw.load_files (partner_code varchar, source varchar, "
                "period_month date)")
    con.execute("insert into raw.load_files values ('named', 'telephony', '2026-10-01'), "
                "('late', 'telephony', '2026-09-01'), ('unnamed', 'telephony', null)")


def test_first_load_counts_named_periods_without_the_marts(tmp_path):
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    _load_files(con)
    assert partners_missing_month(con, ["named", "late"], "telephony", OCTOBER) == ["late"]


def test_files_without_a_period_count_through_their_calls_once_built(tmp_path):
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    _load_files(con)
    con.execute("create schema marts")
    con.execute("create table marts.fct_calls (partner_code varchar, call_month date)")
    con.execute("insert into marts.fct_calls values ('unnamed', '2026-10-01')")
    assert partners_missing_month(con, ["named", "late", "unnamed"], "telephony",
                                  OCTOBER) == ["late"]
    con.execute("delete from marts.fct_calls")
    assert partners_missing_month(con, ["named", "unnamed"], "telephony",
                                  OCTOBER) == ["unnamed"]
