"""No personal value from the CRM landing files reaches a published DuckDB file or the working one.

Every customer name, phone number, e-mail address, postcode and UPRN in the CRM landing files of
the session warehouse is collected as delivered and in its normalised forms (docs/crm.md), from
every parseable row whatever became of it (valid, quarantined or duplicate), plus e-mail
addresses found anywhere in the raw text (malformed lines included). Then every column of every
table and view of both published files (serving warehouse and operations) and of the working
file (which also holds the delivered rows and intermediate tables) is read as varchar:

- no cell equals any of those values;
- no text cell contains a full name (a name with a space, at least 6 characters), ignoring case;
- the raw bytes of each file contain no landing e-mail address (text stored outside tables).

To keep exact matching meaningful, values too generic to be personal are not searched: phone
forms with fewer than 7 digits, UPRNs with fewer than 7 digits, postcodes without a digit or
shorter than 5 characters, e-mail forms without "@", names shorter than 4 characters. The counts
of searched values are asserted non-zero so the test cannot pass vacuously, and
`test_scanner_finds_planted_values` proves the scanner fails on a file that leaks.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.crm_small_landing import write_small_landing
from tests.reference_crm import collect_personal_values

NAME_WINDOW = 6
LETTER = re.compile(r"[^\W\d_]")  # a letter, in any alphabet


def searchable(found: dict[str, set[str]]) -> tuple[dict[str, set[str]], set[str], set[str]]:
    """(field -> exact values, full names for containment, e-mails for the byte scan)."""
    def keep(field: str, value: str) -> bool:
        digits = re.sub(r"\D", "", value)
        if field in ("phone", "uprn"):
            return len(digits) >= 7
        if field == "postcode":
            return bool(digits) and len(value.strip()) >= 5
        if field == "email":
            return "@" in value
        return len(value.strip()) >= 4

    exact = {f: {v for v in values if keep(f, v)} for f, values in found.items()}
    names = {v.strip().lower() for v in found.get("customer_name", set())
             if " " in v.strip() and len(v.strip()) >= NAME_WINDOW}
    emails = {v.strip().lower() for v in found.get("email", set()) if "@" in v}
    return exact, names, emails


def scan_duckdb(path: Path, exact: dict[str, set[str]], names: set[str]) -> list[str]:
    """Cells of every table and view in one DuckDB file that hold a personal value."""
    lookup = {v: f for f, values in exact.items() for v in values}
    emails = {v.strip().lower() for v in exact.get("email", ())}  # e-mail: any letter case
    by_window: dict[str, list[str]] = {}
    for name in names:
        by_window.setdefault(name[:NAME_WINDOW], []).append(name)
    # A cell can contain a name only if it holds what every name holds: skip the window scan
    # of cells without a space or without a letter when every name has one (most cells:
    # ids, hashes, timestamps), which keeps the scan exact and makes it several times faster.
    need_space = all(" " in name for name in names)
    need_letter = all(LETTER.search(name) for name in names)
    findings = []
    con = duckdb.connect(str(path), read_only=True)
    try:
        relations = con.execute("""
            select schema_name, table_name from duckdb_tables() where not internal
            union all
            select schema_name, view_name from duckdb_views() where not internal
              and schema_name not in ('information_schema', 'pg_catalog')
            order by 1, 2
        """).fetchall()
        assert relations, f"{path} has no tables"
        for schema, table in relations:
            rel = f'"{schema}"."{table}"'
            for column, ctype in con.execute(f"select column_name, column_type from "
                                             f"(describe {rel})").fetchall():
                cells = con.execute(f'select distinct cast("{column}" as varchar) from {rel} '
                                    f'where "{column}" is not null').fetchall()
                where = f"{path.name} {schema}.{table}.{column}"
                text = bool(by_window) and ctype.upper().startswith(("VARCHAR", "JSON"))
                for (cell,) in cells:
                    if cell in lookup:
                        findings.append(f"{where}: {lookup[cell]} value {cell!r}")
                    elif "@" in cell and cell.strip().lower() in emails:  # each has an "@"
                        findings.append(f"{where}: email value {cell!r}")
                    elif text:
                        low = cell.lower()
                        if ((need_space and " " not in low)
                                or (need_letter and not LETTER.search(low))):
                            continue
                        for i in range(len(low) - NAME_WINDOW + 1):
                            starting = by_window.get(low[i:i + NAME_WINDOW])
                            if starting is None:  # no name starts with these characters
                                continue
                            hits = [n for n in starting if low.startswith(n, i)]
                            if hits:
                                findings.append(f"{where}: contains name {hits[0]!r} "
                                                f"in {cell[:80]!r}")
                                break
    finally:
        con.close()
    return findings


def scan_bytes(path: Path, emails: set[str]) -> list[str]:
    """Landing e-mail addresses present anywhere in the file's raw bytes (any letter case).

    Stored strings can sit back to back without separators, so no e-mail pattern is matched:
    at every "@" the bytes before must end with a landing local part and the bytes after must
    start with that address's domain."""
    by_domain: dict[bytes, set[bytes]] = {}
    for email in emails:
        local, _, domain = email.encode("utf-8").rpartition(b"@")
        by_domain.setdefault(domain, set()).add(local)
    if not by_domain:
        return []
    longest_local = max(len(x) for locals_ in by_domain.values() for x in locals_)
    domain_lengths = sorted({len(d) for d in by_domain})
    data = path.read_bytes().lower()
    found = set()
    at = data.find(b"@")
    while at != -1:
        after = data[at + 1:at + 1 + domain_lengths[-1]]
        before = data[max(0, at - longest_local):at]
        for n in domain_lengths:
            locals_ = by_domain.get(after[:n])
            if locals_:
                found |= {(before[-k:] + b"@" + after[:n]).decode("utf-8", "replace")
                          for k in range(1, len(before) + 1) if before[-k:] in locals_}
        at = data.find(b"@", at + 1)
    return sorted(found)


# Free text (docs/crm.md): personal data typed into a text field is found by its shape, not by
# the landing files' personal field values. Written apart from privacy.py's own patterns.
EMAIL_SHAPE = re.compile(r"[\w.%+'-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
UK_PHONE_SHAPE = re.compile(r"(?<!\w)(\+44\s?(\(0\))?|0)\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\w)")


def scan_patterns(path: Path) -> list[str]:
    """Text cells of every table and view of one DuckDB file holding an e-mail address or a
    UK phone number."""
    findings = []
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = con.execute("""
            select schema_name, table_name, column_name from duckdb_columns()
            where not internal and data_type = 'VARCHAR'
              and schema_name not in ('information_schema', 'pg_catalog')
            order by 1, 2, 3""").fetchall()
        for schema, table, column in columns:
            for (cell,) in con.execute(f'select distinct "{column}" from "{schema}"."{table}" '
                                       f'where "{column}" is not null').fetchall():
                for kind, shape in (("e-mail", EMAIL_SHAPE), ("phone", UK_PHONE_SHAPE)):
                    if shape.search(cell):
                        findings.append(f"{path.name} {schema}.{table}.{column}: {kind}-shaped "
                                        f"text")
    finally:
        con.close()
    return findings


def show(findings: list[str]) -> str:
    return "\n  ".join(findings[:40]) + (f"\n  ... {len(findings) - 40} more"
                                          if len(findings) > 40 else "")


# ---------------------------------------------------------------- the scanner can fail


def test_scanner_finds_planted_values(tmp_path):
    landing, partners, _ = write_small_landing(tmp_path / "small")
    exact, names, emails = searchable(collect_personal_values(landing, partners))
    assert "john.smith@example.com" in emails and "john smith" in names
    clean, leaky = tmp_path / "clean.duckdb", tmp_path / "leaky.duckdb"
    for path, rows in ((clean, [("payment enquiry", 1, "AB1")]),
                       (leaky, [("note: spoke to John Smith today", 2, "x"),
                                ("ok", 3, "AB12CD"),
                                ("JOHN.SMITH@EXAMPLE.COM", 4, "07700900001")])):
        con = duckdb.connect(str(path))
        con.execute("create schema quality")
        con.execute("create table quality.notes (txt varchar, n integer, code varchar)")
        con.executemany("insert into quality.notes values (?, ?, ?)", rows)
        con.execute("create table main.nums (v bigint)")
        con.execute("insert into main.nums values (200000000002)" if path == leaky
                    else "insert into main.nums values (42)")
        con.close()
    assert scan_duckdb(clean, exact, names) == []
    assert scan_bytes(clean, emails) == []
    found = scan_duckdb(leaky, exact, names)
    text = "\n".join(found)
    assert "contains name 'john smith'" in text  # inside a sentence
    assert "postcode value 'AB12CD'" in text  # normalised form
    assert "email value 'JOHN.SMITH@EXAMPLE.COM'" in text  # any letter case
    assert "phone value '07700900001'" in text
    assert "uprn value '200000000002'" in text  # a number column, cast to varchar
    assert scan_bytes(leaky, emails) == ["john.smith@example.com"]
    assert scan_patterns(clean) == []
    assert sorted(scan_patterns(leaky)) == ["leaky.duckdb quality.notes.code: phone-shaped text",
                                            "leaky.duckdb quality.notes.txt: e-mail-shaped text"]


# ---------------------------------------------------------------- the published files


@pytest.fixture(scope="module")
def personal(built_warehouse):
    found = collect_personal_values(built_warehouse.landing_dir, built_warehouse.partners_dir)
    exact, names, emails = searchable(found)
    empty = [f for f in ("customer_name", "phone", "email", "postcode") if not exact[f]]
    assert not empty, (f"no {empty} values found in the CRM landing files under "
                       f"{built_warehouse.landing_dir}: the privacy scan would be vacuous")
    assert names and emails
    return exact, names, emails


@pytest.mark.slow
@pytest.mark.parametrize("which", ["serving_db", "operations_db", "work_db"])
def test_no_personal_value_in_published_tables(built_warehouse, personal, which):
    path = getattr(built_warehouse, which)
    assert path.exists(), f"{path} was not published"
    exact, names, _ = personal
    findings = scan_duckdb(path, exact, names)
    assert not findings, f"{len(findings)} personal value(s) in {path.name}:\n  {show(findings)}"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["serving_db", "operations_db", "work_db"])
def test_no_landing_email_in_published_file_bytes(built_warehouse, personal, which):
    path = getattr(built_warehouse, which)
    leaked = scan_bytes(path, personal[2])
    assert not leaked, f"{len(leaked)} landing e-mail address(es) in the bytes of {path}: " \
                       f"{leaked[:20]}"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["serving_db", "operations_db"])
def test_no_email_or_phone_shaped_text_in_published_tables(built_warehouse, which):
    """Free text included (issue 11, case 8): no text cell of a published file looks like an
    e-mail address or a UK phone number, whichever field it was typed into."""
    findings = scan_patterns(getattr(built_warehouse, which))
    assert not findings, f"{len(findings)} finding(s):\n  {show(findings)}"
