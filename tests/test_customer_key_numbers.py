"""Customer identity labels keys as numbers (dbt/macros/portable.sql, customer_key_number and
customer_key_text; docs/crm.md, "Customer identity"): on DuckDB the number of a key gives the
key's 32 hexadecimal digits back, and numbers sort as the digits do, so the smallest key of a
component, its label, is the same either way. The macros' DuckDB implementations, rendered from
the file and run by DuckDB."""

from __future__ import annotations

import hashlib

import duckdb
import jinja2

from dagster_project.settings import REPO_ROOT

PORTABLE = REPO_ROOT / "dbt" / "macros" / "portable.sql"
EDGES = ["0" * 32, "0" * 31 + "1", "0f" * 16, "7" + "f" * 31, "8" + "0" * 31, "f" * 32]


def _macros() -> tuple[str, str]:
    """(number, text) SQL of the DuckDB implementations, for a column `key` and a column `n`."""
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    template = env.from_string(PORTABLE.read_text(encoding="utf-8"))
    module = template.make_module()
    return (str(module.duckdb__customer_key_number("key")).strip(),
            str(module.duckdb__customer_key_text("n")).strip())


def test_a_keys_number_gives_its_digits_back_and_sorts_as_they_do():
    keys = EDGES + [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(2000)]
    number, text = _macros()
    with duckdb.connect() as con:
        con.execute("create table keys (key varchar)")
        con.executemany("insert into keys values (?)", [[k] for k in keys])
        rows = con.execute(f"with numbered as (select key, {number} as n from keys) "
                           f"select key, {text} as back, n from numbered").fetchall()
    assert [row[1] for row in rows] == keys
    by_number = [row[0] for row in sorted(rows, key=lambda row: row[2])]
    assert by_number == sorted(keys)
