"""The dbt project keeps DuckDB-only SQL behind the dispatched macros of dbt/macros/portable.sql
(docs/architecture.md, "Portable SQL"), so that another engine only needs its own
`<adapter>__` implementations. A scan of the models, tests and macros for DuckDB-only
functions and syntax; the dispatch implementations themselves (`<adapter>__<name>` macros)
are not scanned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dagster_project.settings import REPO_ROOT

DBT_DIR = REPO_ROOT / "dbt"
SCANNED = ("models/**/*.sql", "tests/**/*.sql", "macros/**/*.sql")

# DuckDB-only (or DuckDB-spelled) SQL -> what to write instead.
DENYLIST: dict[str, str] = {
    r"\bstrptime\s*\(|\btry_strptime\s*\(": "parse_timestamp / try_parse_timestamp",
    r"\bstrftime\s*\(": "a dispatched macro in macros/portable.sql",
    r"\bregexp_full_match\s*\(|\bregexp_matches\s*\(": "matches_regex",
    r"\bstarts_with\s*\(": "has_prefix",
    r"\bltrim\s*\([^()]*,": "trim_leading",
    r"\bisodow\s*\(": "iso_day_of_week",
    r"\bmonthname\s*\(": "month_name",
    r"\bdayname\s*\(": "day_name",
    r"\bdate_diff\s*\(|\bdatediff\s*\(": "month_diff (or another dispatched macro)",
    r"\bdate_part\s*\(": "extract(<part> from <date>)",
    r"\binterval\b": "add_interval / add_months",
    r"\bat\s+time\s+zone\b": "utc_to_local",
    r"\bgenerate_series\s*\(|\brange\s*\(": "calendar_days (or another dispatched macro)",
    r"\bunnest\s*\(": "a dispatched macro, or a union of the values",
    r"\blist_\w*\s*\(|\barray_\w*\s*\(": "a dispatched macro",
    r"\barg_(min|max)\s*\(": "first_by",
    r"\bstring_split\s*\(|\bstr_split\s*\(|\bstring_agg\s*\(": "a dispatched macro",
    r"\bmd5\s*\(": "dbt.hash",
    r"\b(u?hugeint)\b|\bto_hex\s*\(": "customer_key_number / customer_key_text",
    r"\bepoch(_ms|_us|_ns)?\s*\(|\bmake_date\s*\(|\blast_day\s*\(": "a dispatched macro",
    r"\b(left|right)\s*\(": "substr (Trino has no left/right)",
    r"\bas\s+varchar\b": "dbt.type_string() (Spark needs a length for varchar)",
    r"::": "cast(... as ...)",
    r"\b(group|order)\s+by\s+all\b": "the columns, listed",
    r"\bunion\s+(all\s+)?by\s+name\b": "the columns, listed in the same order",
    r"\*\s*(exclude|replace)\s*\(": "the columns, listed",
    r"\bqualify\b": "a filter on a row_number() column in the next CTE",
    r"\bas\s+(not\s+)?materialized\b": "inline_cte",
    r"\b(un)?pivot\b": "one select per value, union all",
    r"\bfilter\s*\((?:[^()]|\([^()]*\))*\)\s*over\b": "count(case when ... then 1 end) over (...)",
}

# Files allowed to hold engine-specific SQL (none at present: every model and macro goes
# through the dispatched macros). The last test fails on entries naming missing files.
ALLOWLIST: frozenset[str] = frozenset()

_DISPATCH_IMPLEMENTATION = re.compile(
    r"{%-?\s*macro\s+\w+__\w+\s*\(.*?{%-?\s*endmacro\s*-?%}", re.DOTALL)
JINJA_COMMENT = re.compile(r"{#.*?#}", re.DOTALL)
JINJA_STATEMENT = re.compile(r"{%.*?%}", re.DOTALL)  # loops, sets, macro headers
SQL_COMMENTS = (re.compile(r"/\*.*?\*/", re.DOTALL), re.compile(r"--[^\n]*"))
_NOT_SQL = (JINJA_COMMENT, JINJA_STATEMENT, *SQL_COMMENTS)


def blanked(text: str, patterns) -> str:
    """`text` with every match of `patterns` (in turn) replaced by spaces, newlines kept, so
    that positions and line numbers stay right."""
    for pattern in patterns:
        text = pattern.sub(lambda match: re.sub(r"[^\n]", " ", match.group(0)), text)
    return text


def _scannable(text: str) -> str:
    """The SQL of a file: dispatch implementations, comments and Jinja statements blanked."""
    return blanked(text, (_DISPATCH_IMPLEMENTATION, *_NOT_SQL))


def violations(text: str) -> list[tuple[int, str, str]]:
    """(line, matched text, what to use instead) for each DuckDB-only construct in `text`."""
    sql = _scannable(text)
    found = []
    for pattern, instead in DENYLIST.items():
        for match in re.finditer(pattern, sql, re.IGNORECASE):
            line = sql.count("\n", 0, match.start()) + 1
            found.append((line, " ".join(match.group(0).split()), instead))
    return sorted(found)


def scan(dbt_dir: Path, allowlist: frozenset[str] = ALLOWLIST) -> list[str]:
    """One message per DuckDB-only construct in the scanned files of `dbt_dir`."""
    messages = []
    for glob in SCANNED:
        for path in sorted(dbt_dir.glob(glob)):
            relative = path.relative_to(dbt_dir).as_posix()
            if relative in allowlist:
                continue
            for line, matched, instead in violations(path.read_text(encoding="utf-8")):
                messages.append(
                    f"dbt/{relative}:{line}: `{matched}` is not portable; use {instead}")
    return messages


def test_dbt_sql_uses_no_duckdb_only_syntax():
    assert scan(DBT_DIR) == []


@pytest.mark.parametrize("planted", [
    "select try_strptime(x, '%Y') as t from a",
    "select regexp_full_match(x, 'a+') as m from a",
    "select isodow(d) as dow from a",
    "select d + interval 1 day as next_day from a",
    "select d - interval (3) month as earlier from a",
    "select (t at time zone 'UTC') at time zone tz as local_t from a",
    "select * from generate_series(1, 3) as s",
    "select arg_min(v, (a, b)) as v from a",
    "select list_sort(xs) as xs from a",
    "select x::integer as x from a",
    "select a, count(*) as n from t group by all",
    "select * exclude (a) from t",
    "select * from t qualify row_number() over (order by a) = 1",
    "select left(x, 3) as x3 from a",
    "select cast(n as varchar) as n from a",
    "select count(*) filter (where ok) over (partition by p) as n from a",
    "select ltrim(x, '-') as x from a",
])
def test_scan_finds_planted_violation(tmp_path, planted):
    model = tmp_path / "models" / "marts" / "planted.sql"
    model.parent.mkdir(parents=True)
    model.write_text(f"-- a comment\nwith\n\na as (\n\n    {planted}\n\n)\n\nselect * from a\n")
    messages = scan(tmp_path, frozenset())
    assert messages, planted
    assert all(m.startswith("dbt/models/marts/planted.sql:6: ") for m in messages), messages
    # an allowlisted file is skipped
    assert scan(tmp_path, frozenset({"models/marts/planted.sql"})) == []


def test_scan_ignores_comments_jinja_statements_and_dispatch_implementations():
    text = """{#- interval 1 day in a Jinja comment -#}
{% macro add_days(x, n) -%}
    {{ return(adapter.dispatch('add_days', 'hub_warehouse')(x, n)) }}
{%- endmacro %}
{% macro duckdb__add_days(x, n) -%}
    {{ x }} + interval ({{ n }}) day
{%- endmacro %}
{%- for i in range(3) %}
-- isodow(d) in a SQL comment
select count(*) filter (where ok) as n, ltrim(x) as x /* x::int */ from left_table
{%- endfor %}
"""
    assert violations(text) == []


def test_allowlist_names_existing_files():
    assert sorted(p for p in ALLOWLIST if not (DBT_DIR / p).is_file()) == []
