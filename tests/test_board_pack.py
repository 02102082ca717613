"""The monthly board pack (issue 12), written by `hub report` from the session's published
warehouse: the files, the PDF's text against figures re-derived from the monthly marts (not the
scorecard the pack reads), a page per partner, every PDF page rendered to PNG and looked at,
every chart screenshotted in Chromium and checked for data, the Dagster asset and its sensor."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
from PIL import Image

from dagster_project.dashboards.browser import CHROMIUM_ARGS, chromium_path
from dagster_project.report.commentary import HEADLINE_KPIS, SERVICE_STANDARD_KPIS
from dagster_project.report.formats import figure
from tests.conftest import hub, hub_env
from tests.test_privacy_serving import EMAIL_SHAPE, UK_PHONE_SHAPE

MONTH = dt.date(2024, 4, 1)  # the session sample's last month (tests/conftest.py SAMPLE_ARGS)
HUB_NAME = "Shire Test Hub"
# cover, summary, commentary, one page per headline KPI (and the service standards page when
# measured)
HUB_PAGES_BEFORE_PARTNERS = 3 + len(HEADLINE_KPIS)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _service_standards_measured(marts) -> bool:
    return marts.execute(
        "select count(*) from marts.kpi_scorecard where month = ? and segment_code = 'all' "
        "and kpi_code in (select unnest(?)) and measurement_status != 'not_measured'",
        [MONTH, list(SERVICE_STANDARD_KPIS)]).fetchone()[0] > 0


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    return out.replace("\u00a0", " ")


@pytest.fixture(scope="module")
def packs(built_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    env = hub_env(built_warehouse.data_dir) | {"HUB_NAME": HUB_NAME}
    result = hub(env, "report", "--out", str(out))  # the default month: the latest complete
    return out / f"{MONTH:%Y-%m}", result.stdout, built_warehouse


@pytest.fixture(scope="module")
def marts(built_warehouse):
    con = duckdb.connect(str(built_warehouse.serving_db), read_only=True)
    yield con
    con.close()


def test_the_hub_pack_and_every_partners_pack_are_written(packs, marts):
    folder, stdout, _ = packs
    assert "April 2024" in stdout
    partners = [p for (p,) in marts.execute(
        "select distinct partner_code from marts.kpi_telephony_monthly where month = ? "
        "union select partner_code from marts.kpi_freshness where is_expecting_deliveries",
        [MONTH]).fetchall()]
    assert len(partners) >= 6
    expected = {f"hub-board-{MONTH:%Y-%m}"} | {f"partner-{p}-{MONTH:%Y-%m}" for p in partners}
    written = {p.name for p in folder.iterdir()}
    packs_written = {f"{name}.{ext}" for name in expected for ext in ("html", "pdf")}
    # and the record of the publication they were read from (report/pack_record.py)
    assert written == packs_written | {"pack.json"}
    for path in folder.iterdir():
        if path.name == "pack.json":
            continue
        assert path.stat().st_size > 5000, path.name
        if path.suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF-")


def test_the_hub_pdf_states_the_marts_figures(packs, marts):
    folder, _, _ = packs
    text = _text(folder / f"hub-board-{MONTH:%Y-%m}.pdf")
    flat = re.sub(r"\s+", " ", text)
    rows = marts.execute("""
        select dim_partner.partner_name, monthly.tsf_numerator, monthly.tsf_denominator,
               monthly.offered
        from marts.kpi_telephony_monthly as monthly
        inner join marts.dim_partner using (partner_code)
        where monthly.month = ?""", [MONTH]).fetchall()
    assert len(rows) >= 6
    for name, numerator, denominator, _ in rows:
        tsf = 100 * float(numerator) / float(denominator)
        assert name in flat
        # the partner's league-table row: its name, then its TSF to one decimal
        assert re.search(re.escape(name) + r" " + re.escape(figure(tsf, "pct")), flat), name
    pooled = 100 * sum(float(r[1]) for r in rows) / sum(float(r[2]) for r in rows)
    assert f"Hub (pooled) {figure(pooled, 'pct')}" in flat
    offered = sum(int(r[3]) for r in rows)
    assert offered >= 1000
    assert f"The hub took {offered:,} calls in April 2024" in flat
    assert HUB_NAME in text and "April 2024" in text


def test_the_hub_pdf_has_a_page_per_partner_beyond_the_hub_pages(packs, marts):
    folder, _, _ = packs
    pages = _text(folder / f"hub-board-{MONTH:%Y-%m}.pdf").split("\f")
    names = [n for (n,) in marts.execute("""
        select partner_name from marts.dim_partner
        where partner_code in (select partner_code from marts.kpi_telephony_monthly
                               where month = ?)""", [MONTH]).fetchall()]
    heading = {n: [i for i, page in enumerate(pages)
                   if re.sub(r"\s+", " ", page).strip().startswith(f"{n}, April 2024")]
               for n in names}
    assert all(len(found) == 1 for found in heading.values()), heading
    before = HUB_PAGES_BEFORE_PARTNERS + _service_standards_measured(marts)
    assert min(i for found in heading.values() for i in found) >= before
    assert len([p for p in pages if p.strip()]) >= before + len(names) + 1
    for page in pages:
        if page.strip():
            assert re.search(rf"{HUB_NAME} · Hub board report · April 2024 +Page \d+ of \d+",
                             page), page[:200]


def test_the_hub_pdf_states_calls_reaching_the_centre_with_quartile_and_outlier_marks(
        packs, marts):
    """csc_call_share_pct re-derived from the monthly mart's call counts (not the scorecard
    the pack reads): each partner's league-table row, its quartile and outlier mark from
    kpi_benchmarks beside its rank, "not measured" in words for a partner whose telephony
    never marks direct-dial calls."""
    folder, _, _ = packs
    pages = [_flat(p) for p in _text(folder / f"hub-board-{MONTH:%Y-%m}.pdf").split("\f")]
    [page] = [p for p in pages
              if p.startswith("Calls reaching the contact centre: league table, April 2024")]
    rows = marts.execute("""
        select dim_partner.partner_name, monthly.calls_total, monthly.direct_dial,
               coalesce(monthly.direct_dial_extract_calls, 0),
               dim_partner.is_measuring_direct_dial, benchmarks.partner_quartile,
               benchmarks.is_outlier
        from marts.kpi_telephony_monthly as monthly
        inner join marts.dim_partner using (partner_code)
        left join marts.kpi_benchmarks as benchmarks
            on benchmarks.partner_code = monthly.partner_code
            and benchmarks.month = monthly.month
            and benchmarks.kpi_code = 'csc_call_share_pct'
        where monthly.month = ?""", [MONTH]).fetchall()
    measured = [r for r in rows if r[4]]
    assert len(measured) >= 4
    for name, calls, direct, extract, is_measured, quartile, outlier in rows:
        if not is_measured:
            assert re.search(rf"not ranked {re.escape(name)} not measured", page), name
            continue
        # the centre's calls over those and every direct dial: marked in the telephony, or in
        # the partner's separate direct-dial extract (docs/kpi-definitions.md)
        share = 100 * (float(calls) - float(direct)) / (float(calls) + float(extract))
        marks = ", ".join([f"Q{quartile}"] * (quartile is not None) + ["outlier"] * bool(outlier))
        assert re.search(rf"{re.escape(marks)} {re.escape(name)} {re.escape(figure(share, 'pct'))}",
                         page), (name, marks)
    pooled = 100 * sum(float(r[1]) - float(r[2]) for r in measured) / sum(
        float(r[1]) + float(r[3]) for r in measured)
    assert f"Hub (pooled) {figure(pooled, 'pct')} 80.0 %" in page


def test_the_commentary_names_every_outlier_of_the_marts(packs, marts):
    folder, _, _ = packs
    flat = _flat(_text(folder / f"hub-board-{MONTH:%Y-%m}.pdf"))
    flagged = marts.execute("""
        select benchmarks.kpi_name, dim_partner.partner_name
        from marts.kpi_benchmarks as benchmarks
        inner join marts.dim_partner using (partner_code)
        where benchmarks.month = ? and benchmarks.is_outlier
          and benchmarks.kpi_code in (select unnest(?))""",
        [MONTH, [*HEADLINE_KPIS, *SERVICE_STANDARD_KPIS]]).fetchall()
    said = set(re.findall(r"([A-Z][A-Za-z -]+): [^:]*? (?:is an outlier|are outliers), far from",
                          flat))
    assert said == {kpi for kpi, _ in flagged}
    for kpi, partner in flagged:
        sentence = re.search(rf"{re.escape(kpi)}: ([^:]*?) (?:is an outlier|are outliers)", flat)
        assert partner in sentence.group(1), (kpi, partner)


def test_the_service_standards_are_stated_as_the_service_mart_counts_give_them(packs, marts):
    """reception_walkout_pct re-derived from kpi_service_standards_monthly's ticket counts (not
    the scorecard the pack reads): on the hub pack's "Service standards" page and in each
    partner's pack; "suppressed" in words below the KPI's minimum denominator (30)."""
    folder, _, _ = packs
    assert _service_standards_measured(marts)
    pages = [_flat(p) for p in _text(folder / f"hub-board-{MONTH:%Y-%m}.pdf").split("\f")]
    [page] = [p for p in pages if p.startswith("Service standards, April 2024")]
    html = (folder / f"hub-board-{MONTH:%Y-%m}.html").read_text(encoding="utf-8")
    section = html[html.index('<section class="service-standards">'):]
    for heading in ("Voicemail responded within one working day", "Reception walk-outs",
                    "Website visits"):
        assert f"<th>{heading}" in section[:section.index("</section>")]
    rows = marts.execute("""
        select partner_code, dim_partner.partner_name, service.reception_walkouts,
               service.reception_tickets
        from marts.kpi_service_standards_monthly as service
        inner join marts.dim_partner using (partner_code)
        where service.month = ? and service.reception_tickets > 0""", [MONTH]).fetchall()
    assert len(rows) >= 4
    total_walkouts = total_tickets = 0
    for code, name, walkouts, tickets in rows:
        total_walkouts, total_tickets = total_walkouts + walkouts, total_tickets + tickets
        shown = ("suppressed" if tickets < 30
                 else figure(100 * float(walkouts) / float(tickets), "pct"))
        assert shown in page, name
        partner = _flat(_text(folder / f"partner-{code}-{MONTH:%Y-%m}.pdf"))
        assert re.search(rf"Reception walk-outs {re.escape(shown)}", partner), (name, shown)
    hub_rows = [row[:160] for row in page.split("Hub ")[1:]]  # each table's pooled row
    assert any(figure(100 * total_walkouts / total_tickets, "pct") in row for row in hub_rows)
    # the median response has no pooled figure: said so, not "not measured"
    assert any("no pooled figure" in row for row in hub_rows), hub_rows


def _ink(png: bytes) -> int:
    """Pixels of a colour (not white, grey or black): the charts' data marks."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())


def test_every_pdf_page_rendered_to_png_has_content(packs, tmp_path):
    folder, _, _ = packs
    for pdf in sorted(folder.glob("*.pdf")):
        subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / pdf.stem)],
                       check=True)
        pngs = sorted(tmp_path.glob(f"{pdf.stem}-*.png"))
        assert pngs, pdf.name
        for png in pngs:
            image = Image.open(png).convert("L")
            body = image.crop((0, 0, image.width, int(image.height * 0.92)))  # not the footer
            dark = int((np.asarray(body) < 128).sum())
            assert dark > 100, f"{png.name} has nothing above its footer"


def test_every_chart_draws_data_and_an_empty_chart_is_caught(packs):
    from playwright.sync_api import sync_playwright

    from dagster_project.report import charts

    folder, _, _ = packs
    empty_axes = charts.Figure(figsize=(7, 2)).subplots().figure  # axes, no data
    buffer = io.StringIO()
    empty_axes.savefig(buffer, format="svg")
    seen = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 900, "height": 1200})
        page.set_content(f'<figure class="chart">{buffer.getvalue()}</figure>')
        assert _ink(page.locator("figure.chart").screenshot()) == 0  # the check can fail
        for html in sorted(folder.glob("*.html")):
            page.goto(html.as_uri())
            assert page.locator("p.nodata").count() == 0, html.name  # sample: every chart
            figures = page.locator("figure.chart")
            assert figures.count() >= 2, html.name
            whole = Image.open(io.BytesIO(page.screenshot(full_page=True)))  # one per file
            for i in range(figures.count()):
                chart, box = figures.nth(i), figures.nth(i).bounding_box()
                region = whole.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]),
                                     int(box["y"] + box["height"])))
                png = io.BytesIO()
                region.save(png, format="PNG")
                assert _ink(png.getvalue()) > 400, (
                    f"{html.name}: {chart.get_attribute('data-chart')} draws no data")
                seen += 1
        browser.close()
    assert seen >= 5 + 2 * 6


def test_packs_hold_no_personal_data_shapes(packs):
    folder, _, _ = packs
    for path in folder.glob("*.html"):
        text = re.sub(r"<svg.*?</svg>", "", path.read_text(encoding="utf-8"), flags=re.S)
        assert not EMAIL_SHAPE.search(text) and not UK_PHONE_SHAPE.search(text), path.name
    for path in folder.glob("*.pdf"):
        text = _text(path)
        assert not EMAIL_SHAPE.search(text) and not UK_PHONE_SHAPE.search(text), path.name


def test_a_report_stopped_midway_leaves_the_months_packs_as_they_were(packs, tmp_path):
    """SIGTERM to `hub report` while it prints the PDFs (its HTML already written): status 1,
    a word, and the month shows exactly the packs it showed before (report/month_folder.py),
    on a copy of the module's packs."""
    import os
    import shutil
    import signal
    import sys
    import time

    folder, _, built_warehouse = packs
    out = tmp_path / "reports"
    shutil.copytree(folder.parent, out, symlinks=True)
    month = out / folder.name
    before = {p.name: p.read_bytes() for p in month.iterdir()}
    sets = out / ".packs" / folder.name
    report = subprocess.Popen(
        [str(Path(sys.executable).with_name("hub")), "report", "--out", str(out)],
        env=hub_env(built_warehouse.data_dir) | {"HUB_NAME": HUB_NAME},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        shown = Path(os.readlink(month)).name
        while not any(p.suffix == ".html" for new in sets.iterdir()
                      if new.name != shown for p in new.iterdir()):
            assert report.poll() is None and time.monotonic() < deadline, report.stderr.read()
            time.sleep(0.05)
        report.send_signal(signal.SIGTERM)
        _, err = report.communicate(timeout=60)
    finally:
        if report.poll() is None:
            report.kill()
            report.wait()
    assert report.returncode == 1, err
    assert f"hub report: interrupted (SIGTERM or Ctrl-C): the packs of {folder.name} were " \
           "left as they were" in err
    assert {p.name: p.read_bytes() for p in month.iterdir()} == before
    assert [p.name for p in sets.iterdir()] == [shown]  # its half-written set removed


def test_a_month_without_figures_exits_non_zero(built_warehouse, tmp_path):
    env = hub_env(built_warehouse.data_dir)
    result = hub(env, "report", "--month", "2019-01", "--out", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "no figures for 2019-01" in result.stderr
    assert not any(tmp_path.iterdir())


def test_the_sensor_asks_for_the_month_and_the_dagster_asset_writes_it(built_warehouse,
                                                                       tmp_path, monkeypatch):
    """After a publication the sensor asks for the latest complete month's packs, unless they
    were already written from the warehouse served now (`hub report` after `hub build`, the UI
    started again): then it skips, until packs from another publication are what is there."""
    import json

    from dagster_project.definitions import defs
    from dagster_project.orchestration.reports import (
        SERVING_KEY,
        board_pack,
        board_pack_sensor,
    )
    from dagster_project.orchestration.resources import WarehouseResource
    from dagster_project.report.pack_record import PACK_RECORD

    monkeypatch.setenv("HUB_DATA_DIR", str(built_warehouse.data_dir))
    monkeypatch.setenv("HUB_REPORTS_DIR", str(tmp_path / "reports"))
    resource = WarehouseResource.from_env()
    instance = dg.DagsterInstance.ephemeral()
    cursor = None

    def published_then_sensor():
        nonlocal cursor
        instance.report_runless_asset_event(dg.AssetMaterialization(SERVING_KEY))
        context = dg.build_sensor_context(instance=instance, resources={"warehouse": resource},
                                          repository_def=defs.get_repository_def(),
                                          cursor=cursor)
        tick = board_pack_sensor.evaluate_tick(context)
        cursor = tick.cursor
        return tick

    (request,) = published_then_sensor().run_requests
    assert request.partition_key == f"{MONTH:%Y-%m-%d}"
    result = dg.materialize([board_pack], partition_key=request.partition_key,
                            resources={"warehouse": resource}, instance=instance,
                            selection=[board_pack])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    path = Path(event.materialization.metadata["path"].value)
    folder = tmp_path / "reports" / f"{MONTH:%Y-%m}"
    assert path == folder / f"hub-board-{MONTH:%Y-%m}.pdf"
    assert path.exists()
    record = json.loads((folder / PACK_RECORD).read_text(encoding="utf-8"))
    assert sorted(p.name for p in folder.iterdir() if p.name != PACK_RECORD) == record["files"]

    # the same warehouse published again (as far as the sensor sees): nothing to write
    again = published_then_sensor()
    assert again.run_requests == []
    assert "already written from the warehouse served now" in again.skip_message
    # the packs there are from an earlier publication: the sensor asks again
    written = (folder / PACK_RECORD).read_text(encoding="utf-8")
    (folder / PACK_RECORD).write_text(
        json.dumps(dict(record, published_at="2000-01-01T00:00:00+00:00")), encoding="utf-8")
    (request,) = published_then_sensor().run_requests
    assert request.partition_key == f"{MONTH:%Y-%m-%d}"
    # from this publication, but a pack is missing from the folder: asked again too
    (folder / PACK_RECORD).write_text(written, encoding="utf-8")
    assert published_then_sensor().run_requests == []
    path.unlink()
    assert len(published_then_sensor().run_requests) == 1
