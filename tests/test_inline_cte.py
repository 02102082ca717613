"""The project's rule for CTEs over stored tables (docs/architecture.md, "Portable SQL"): a CTE
that reads a stored model or source and is read more than once is written
`name as {{ inline_cte() }} (...)`. DuckDB materialises a CTE used twice: every row of the
table is copied before any filter, which cost the scale-10 builds tens of seconds per query
(docs/benchmarks-journal.md, "Scale 10"). A scan of the models, tests and macros as written (Jinja
not rendered): a CTE whose body is a plain select from `ref()`, `source()` or `this`, read
by two `from`/`join` clauses, or by one inside a Jinja loop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_portable_sql import DBT_DIR, JINJA_COMMENT, SCANNED, SQL_COMMENTS, blanked

_CTE = re.compile(r"(?m)^[ \t]*(\w+)[ \t]+as[ \t]+(\{\{-?\s*inline_cte\(\)\s*-?\}\}[ \t]*)?\(")
# a plain read of a stored relation: select <columns> from ref/source/this [alias] [where ...]
_STORED_READ = re.compile(
    r"^\s*select\s+[\w\s,.*]+?\s+from\s+\{\{-?\s*(ref|source)\s*\(.*?\)\s*-?\}\}"
    r"|^\s*select\s+[\w\s,.*]+?\s+from\s+\{\{-?\s*this\s*-?\}\}",
    re.IGNORECASE | re.DOTALL)
_JOINS_OR_GROUPS = re.compile(r"\b(join|group\s+by|union)\b", re.IGNORECASE)
_LOOP_TAG = re.compile(r"{%-?\s*(for|endfor)\b")


def _body(text: str, open_paren: int) -> tuple[str, int]:
    """The text inside the parenthesis opened at `open_paren`, and the index after it."""
    depth = 0
    for i in range(open_paren, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[open_paren + 1:i], i + 1
    return text[open_paren + 1:], len(text)


def _in_loop(text: str, position: int) -> bool:
    depth = 0
    for tag in _LOOP_TAG.finditer(text, 0, position):
        depth += 1 if tag.group(1) == "for" else -1
    return depth > 0


def violations(text: str) -> list[tuple[int, str, int]]:
    """(line, CTE name, reads) of each CTE over a stored relation read more than once without
    inline_cte()."""
    sql = blanked(text, (JINJA_COMMENT, *SQL_COMMENTS))  # Jinja statements kept: loops count
    found = []
    for match in _CTE.finditer(sql):
        name, inlined = match.group(1), match.group(2)
        body, end = _body(sql, match.end() - 1)
        if inlined or not _STORED_READ.search(body) or _JOINS_OR_GROUPS.search(body):
            continue
        reads = 0
        for use in re.finditer(rf"\b(from|join)\s+{name}\b(?!\s*\()", sql[end:], re.IGNORECASE):
            reads += 2 if _in_loop(sql, end + use.start()) else 1
        if reads > 1:
            found.append((sql.count("\n", 0, match.start()) + 1, name, reads))
    return found


def scan(dbt_dir: Path) -> list[str]:
    """One message per CTE of the scanned files of `dbt_dir` that breaks the rule."""
    messages = []
    for glob in SCANNED:
        for path in sorted(dbt_dir.glob(glob)):
            relative = path.relative_to(dbt_dir).as_posix()
            for line, name, reads in violations(path.read_text(encoding="utf-8")):
                messages.append(
                    f"dbt/{relative}:{line}: CTE `{name}` reads a stored relation and is read "
                    f"{reads} times (a read inside a Jinja loop counts two): write "
                    f"`{name} as {{{{ inline_cte() }}}} (`")
    return messages


def test_ctes_over_stored_tables_read_twice_are_inlined():
    assert scan(DBT_DIR) == []


@pytest.mark.parametrize("model, expected", [
    # read twice: flagged
    ("with\n\ncontacts as (\n\n    select * from {{ ref('int_contacts__validated') }}\n\n),\n\n"
     "a as (select contact_id from contacts),\n\nb as (select c.contact_id from a\n"
     "    inner join contacts as c on a.contact_id = c.contact_id)\n\nselect * from b\n",
     [(3, "contacts", 2)]),
    # read once inside a Jinja loop: flagged
    ("with\n\ncalls as (\n    select * from {{ ref('fct_calls') }} where x\n),\n\n"
     "u as (\n{% for k in ['a', 'b'] %}\nselect '{{ k }}' as k from calls\n"
     "{% if not loop.last %}union all{% endif %}\n{% endfor %}\n)\n\nselect * from u\n",
     [(3, "calls", 2)]),
    # inlined: allowed
    ("with\n\ncontacts as {{ inline_cte() }} (\n    select * from {{ ref('x') }}\n),\n\n"
     "a as (select * from contacts),\n\nb as (select * from contacts)\n\nselect * from b\n", []),
    # read once: allowed
    ("with\n\ncontacts as (\n    select * from {{ ref('x') }}\n),\n\n"
     "final as (select contacts.a, contacts.b from contacts)\n\nselect * from final\n", []),
    # a computed CTE (a join or an aggregate) is not a plain read: not this rule's business
    ("with\n\nm as (\n    select a, count(*) as n from {{ ref('x') }} group by a\n),\n\n"
     "p as (select * from m),\n\nq as (select * from m)\n\nselect * from q\n", []),
])
def test_rule_finds_planted_ctes(model, expected):
    assert violations(model) == expected
