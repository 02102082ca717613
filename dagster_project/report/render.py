"""HTML of the board packs, by Jinja2 templates (`report/templates/`), and their PDF, printed by
the system Chromium through Playwright (A4 portrait, page numbers and the hub's name in the
footer). Plain Python: no Dagster imports."""

from __future__ import annotations

import html
import re
from pathlib import Path

import jinja2

from dagster_project.dashboards.browser import Browser, BrowserError

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("dagster_project.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,  # a misspelt field fails the report, never prints blank
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

# A figure and its unit stay on one line: "6.7 %" never breaks before its "%".
_UNIT_SPACE = re.compile(r"(?<=\d) (?=%|s\b|pts\b|per 1,000)")
_ENV.filters["keep_units"] = lambda text: _UNIT_SPACE.sub("\u00a0", str(text))


class ReportError(RuntimeError):
    """A pack could not be written (no Chromium, a printing failure)."""


def render_html(template: str, **context: object) -> str:
    return _ENV.get_template(template).render(**context)


def _footer(text: str) -> str:
    return ('<div style="font-family: DejaVu Sans, sans-serif; font-size: 7pt; color: #444; '
            'width: 100%; padding: 0 15mm; display: flex; justify-content: space-between;">'
            f'<span>{html.escape(text)}</span><span>Page <span class="pageNumber"></span> of '
            '<span class="totalPages"></span></span></div>')


def print_pdfs(jobs: list[tuple[Path, Path, str]], executable: str | None = None) -> None:
    """Print each (html file, pdf file, footer text) with one headless Chromium (the
    dashboards' Browser). The page may load nothing from outside the HTML file (charts and
    styles are inline)."""
    try:
        with Browser("", executable) as browser:
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith("file://") else route.abort())
            for html_path, pdf_path, footer in jobs:
                page.goto(html_path.resolve().as_uri(), wait_until="load")
                tmp = pdf_path.with_name(pdf_path.name + ".tmp")
                page.pdf(path=str(tmp), format="A4", print_background=True,
                         display_header_footer=True, header_template="<div></div>",
                         footer_template=_footer(footer),
                         margin={"top": "16mm", "bottom": "18mm", "left": "15mm",
                                 "right": "15mm"})
                tmp.replace(pdf_path)
    except BrowserError as exc:  # no Chromium, or it did not start
        raise ReportError(str(exc)) from exc
