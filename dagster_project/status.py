"""`hub status`: what the analyst needs before a board meeting, read from the operations file
(the published marts, load events and quarantined rows).

Which partners delivered (in a given month, by default each partner's latest delivered month,
so a historic partner shows its data rather than nothing), how many rows each brought and lost
to quarantine, which files the last load rejected, and when the serving file was published; for
telephony, then for CRM, voicemail, reception and web (the partners configured with each).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from dagster_project import duck
from dagster_project.partners import SERVICE_STANDARD_SOURCES
from dagster_project.quality import rejection_messages
from dagster_project.source_models import SOURCE_MODELS

# Files the last load neither loaded nor rejected (docs/architecture.md, "Delivery rules").
SET_ASIDE = {"held": "held back (shrinking re-deliveries)",
             "waiting": "left waiting (not settled yet)"}


def _age(path: Path, now: dt.datetime) -> str:
    published = dt.datetime.fromtimestamp(path.stat().st_mtime)
    minutes = int((now - published).total_seconds() // 60)
    ago = f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"
    return f"{published:%Y-%m-%d %H:%M} ({ago})"


def _source_section(con: duckdb.DuckDBPyConnection, source: str, label: str,
                    partner_codes: list[str], month: dt.date | None,
                    not_expected: tuple[str, ...]) -> list[str]:
    """One source's deliveries per partner (from marts.kpi_deliveries): of `month`, or of each
    partner's latest delivered month when `month` is None."""
    rows = con.execute("""
        with latest as (
            select partner_code, max(month) as month from marts.kpi_deliveries
            where source = $source group by partner_code
        )
        select d.partner_code, d.month, sum(d.files), sum(d.rows_read), sum(d.rows_valid),
               sum(d.rows_rejected) + sum(d.rows_quarantined), sum(d.rows_excluded)
        from marts.kpi_deliveries as d
        left join latest on d.partner_code = latest.partner_code
        where d.source = $source
          and d.month = coalesce(cast($month as date), latest.month)
        group by d.partner_code, d.month order by 1
    """, {"source": source, "month": month}).fetchall()
    delivered = {r[0]: r for r in rows}
    expected = [c for c in partner_codes if c not in not_expected]
    missing = [c for c in expected if c not in delivered]
    when = f"for {month:%B %Y}" if month else "in each partner's latest delivered month"
    lines = [f"{label} {when}: {len(expected) - len(missing)} of {len(expected)} "
             f"partners delivered" + (f"; not delivered: {', '.join(missing)}" if missing else "")
             + (f" (not expected to deliver: {', '.join(not_expected)})" if not_expected else ""),
             "",
             f"{'partner':<12} {'month':>8} {'files':>6} {'rows read':>11} {'valid':>11} "
             f"{'quarantined':>12} {'excluded':>9}"]
    for code in partner_codes:
        if code in delivered:
            _, delivered_month, files, read, valid, quarantined, excluded = delivered[code]
            lines.append(f"{code:<12} {delivered_month:%Y-%m} {files:>6,} {read:>11,} "
                         f"{valid:>11,} {quarantined:>12,} {excluded:>9,}")
        else:
            note = "not expected" if code in not_expected else "no delivery"
            lines.append(f"{code:<12} {'-':>8} {'-':>6} {note:>11}")
    return lines


def status_report(operations_db: Path, partner_codes: list[str], month: dt.date | None,
                  now: dt.datetime | None = None, not_expected: tuple[str, ...] = ()) -> str:
    """The status text for `month`; FileNotFoundError when nothing has been published yet."""
    if not operations_db.exists():
        raise FileNotFoundError(f"no published warehouse at {operations_db}: run `hub build`")
    con = duck.connect(operations_db, read_only=True)
    try:
        sections = _source_section(con, "telephony", "Telephony", partner_codes, month,
                                   not_expected)
        # then each other source, for the partners configured with it
        for source in ("crm", *SERVICE_STANDARD_SOURCES):
            configured = {r[0] for r in con.execute(
                "select partner_code from raw.partner_sources where source = ?",
                [source]).fetchall()}
            codes = [c for c in partner_codes if c in configured]
            if codes:
                label = SOURCE_MODELS[source].label
                sections.append("")
                sections += _source_section(con, source, label[0].upper() + label[1:], codes,
                                            month, tuple(c for c in not_expected
                                                         if c in configured))
        # a build loads each source under its own load id: the last load of every source
        last_loads = con.execute(
            "select arg_max(load_id, event_at) from raw.load_events group by source "
            "order by source desc").fetchall()
        rejected = [m for (load_id,) in last_loads for m in rejection_messages(con, load_id)]
        set_aside = {status: [m for (load_id,) in last_loads
                              for m in rejection_messages(con, load_id, status)]
                     for status in SET_ASIDE}
    finally:
        con.close()
    published = _age(operations_db, now or dt.datetime.now())
    lines = [f"Published warehouse: {operations_db}, published {published}", *sections]
    lines.append("")
    if rejected:
        lines.append(f"The last load rejected {len(rejected)} file(s):")
        lines.extend(f"  {message}" for message in rejected)
    else:
        lines.append("The last load rejected no file.")
    for status, messages in set_aside.items():
        if messages:
            lines.append(f"The last load {SET_ASIDE[status]} {len(messages)} file(s):")
            lines.extend(f"  {message}" for message in messages)
    return "\n".join(lines)
