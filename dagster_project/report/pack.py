"""Write a month's board packs (issue 12): the hub board's pack and one pack per partner, as HTML
and PDF, into `<reports dir>/YYYY-MM/`, from the published serving warehouse only.

    write_packs(serving_db, reference_dir, reports_dir, month, hub_name) -> PackResult

The packs are written into a new folder of their own, which becomes the month's in one rename
once all are written (report/month_folder.py): a reader (the Superset route, a browser) sees the
month's earlier packs or all the new ones, never a mix, and a run stopped midway changes
nothing. Once every pack of the month is written (HTML and PDF), the folder's `pack.json`
records the publication they were read from, so that the board pack sensor does not write them
again from the same publication (report/pack_record.py). Plain Python: `hub report` and the
Dagster asset `reports/board_pack` both call it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.report import pages
from dagster_project.report.formats import month_name
from dagster_project.report.month_folder import month_link, replacing_month
from dagster_project.report.pack_data import NoDataForMonth, PackData, read_pack
from dagster_project.report.pack_record import PACK_RECORD, record_text
from dagster_project.report.render import print_pdfs, render_html

__all__ = ["NoDataForMonth", "PackResult", "hub_pack_name", "partner_pack_name", "write_packs"]


def hub_pack_name(month: dt.date) -> str:
    return f"hub-board-{month:%Y-%m}"


def partner_pack_name(partner_code: str, month: dt.date) -> str:
    return f"partner-{partner_code}-{month:%Y-%m}"


@dataclass
class PackResult:
    month: dt.date
    folder: Path
    files: list[Path] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)


def _common(data: PackData, produced: dt.datetime) -> dict:
    return {"hub_name": data.hub_name, "month_label": month_name(data.month),
            "produced": f"{produced:%d %B %Y %H:%M} UTC",
            "published": f"{data.published_at:%d %B %Y %H:%M} UTC",
            "definitions": data.definitions}


def _write(path: Path, text: str) -> Path:
    # a new file, then a rename: a file carried over from the month's current set is a hard
    # link to what readers see, and must not be rewritten in place
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_packs(serving_db: Path, reference_dir: Path, reports_dir: Path, month: dt.date,
                hub_name: str, partner: str | None = None, pdf: bool = True,
                produced: dt.datetime | None = None) -> PackResult:
    """The hub pack (unless `partner` is given) and every partner's pack (or only `partner`'s)
    of `month`. Raises NoDataForMonth when the serving warehouse has no figures for it."""
    produced = produced or dt.datetime.now(dt.UTC)
    data = read_pack(serving_db, reference_dir, month, hub_name)
    if partner is not None and partner not in data.partner_codes:
        raise NoDataForMonth(f"{month:%Y-%m} for partner {partner}")
    codes = list(data.partner_codes if partner is None else [partner])
    shown = month_link(reports_dir, month)
    # a partner's pack alone replaces that partner's files and keeps the month's others
    with replacing_month(reports_dir, month, keep_others=partner is not None) as folder:
        written = _write_month(data, folder, codes, partner is None, pdf,
                               _common(data, produced))
    return PackResult(month, shown, [shown / path.name for path in written], codes)


def _write_month(data: PackData, folder: Path, codes: list[str], with_hub: bool, pdf: bool,
                 common: dict) -> list[Path]:
    """The packs of `codes` (and the hub's, `with_hub`) into `folder`, the month's new set; the
    files written, in order."""
    month, hub_name = data.month, data.hub_name
    stamp = pages.completeness(data)
    jobs: list[tuple[Path, Path, str]] = []
    # each partner's page (and its charts) drawn once: the hub pack shows it without the trends
    partner_pages = {code: pages.partner_page(data, code, with_trends=True) for code in codes}
    if with_hub:
        html = _write(folder / f"{hub_pack_name(month)}.html", render_html(
            "hub_board.html.j2", title=f"{hub_name}: hub board report, {month_name(month)}",
            completeness=stamp, header=pages.summary_header(data),
            summary=pages.summary_rows(data), commentary=pages.hub_sentences(data),
            kpi_pages=pages.kpi_pages(data),
            service_standards=pages.service_standards_page(data),
            partner_pages=list(partner_pages.values()),
            **common))
        jobs.append((html, html.with_suffix(".pdf"),
                     f"{hub_name} · Hub board report · {month_name(month)}"))
    for code, page in partner_pages.items():
        html = _write(folder / f"{partner_pack_name(code, month)}.html", render_html(
            "partner.html.j2", title=f"{page.partner_name}: performance report, "
                                     f"{month_name(month)}",
            page=page, completeness=[r for r in stamp if r["partner"] == page.partner_name],
            **common))
        jobs.append((html, html.with_suffix(".pdf"),
                     f"{hub_name} · {page.partner_name} · {month_name(month)}"))
    if pdf:
        print_pdfs(jobs)
    files = [path for html, pdf_path, _ in jobs for path in ((html, pdf_path) if pdf else (html,))]
    if with_hub and pdf:  # every pack of the month
        _write(folder / PACK_RECORD, record_text(data.published_at, files))
    return files
