"""The board pack's charts, drawn offline by matplotlib as SVG (vector graphics in the HTML and
the printed PDF; text stays text). Each function takes figures as the marts hold them and
returns the SVG markup, or None when there is nothing to draw: the template then says "no data"
instead of printing empty axes.

Colours: partners' lines use the Okabe-Ito colour-blind-safe palette and are also told apart
by markers and the legend; the pooled hub line is black and the target a grey dashed line, so
every coloured mark on a chart is data (the tests look for them). Plain Python: no Dagster.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import matplotlib
import matplotlib.dates
from matplotlib.figure import Figure

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#7F3C8D")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
TARGET_STYLE = {"color": "#555555", "linestyle": (0, (5, 3)), "linewidth": 1.2}
WIDTH_IN = 7.0  # A4 portrait's text width at the pack's margins

matplotlib.rcParams.update({
    "svg.fonttype": "none",  # text as text: selectable, searchable, in pdftotext's output
    "svg.hashsalt": "hub-warehouse",  # the same figures give the same SVG
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
})

UNIT_LABELS = {"pct": "%", "seconds": "seconds", "count": "count", "gbp": "£",
               "per_1000": "per 1,000"}


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue and doctype: inline SVG


def _num(value) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def trend_chart(series: dict[str, list[tuple[dt.date, object]]],
                hub: list[tuple[dt.date, object]], target: object | None, unit: str,
                title: str) -> str | None:
    """One line per partner (name -> [(month, value)]), the pooled hub figure and the target
    line, over the months given. Months without a value are gaps, never zeros. The partners'
    lines are drawn over the hub's (a partner close to the hub stays visible)."""
    if not any(v is not None for points in series.values() for _, v in points):
        return None
    fig = Figure(figsize=(WIDTH_IN, 2.9))
    ax = fig.subplots()
    for i, (name, points) in enumerate(sorted(series.items())):
        ax.plot([m for m, _ in points], [_num(v) for _, v in points], label=name,
                color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)],
                markersize=2.5, linewidth=1.1, zorder=3)  # over the hub line
    if hub:
        ax.plot([m for m, _ in hub], [_num(v) for _, v in hub], label="Hub (pooled)",
                color="black", linewidth=2.2)
    if target is not None:
        ax.axhline(_num(target), label=f"Target {_num(target):g}", **TARGET_STYLE)
    ax.set_title(title, loc="left", fontsize=9, fontweight="bold")
    ax.set_ylabel(UNIT_LABELS.get(unit, unit))
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%b\n%Y"))
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=7)
    return _svg(fig)


def daily_chart(days: list[tuple[dt.date, object]], target: object | None,
                title: str) -> str | None:
    """A partner's daily TSF (%) through the month, bars per day, with the target line; days
    with no calls are gaps."""
    points = [(d, _num(v)) for d, v in days if v is not None]
    if not points:
        return None
    fig = Figure(figsize=(WIDTH_IN, 1.15))
    ax = fig.subplots()
    ax.bar([d for d, _ in points], [v for _, v in points], color=PALETTE[0], width=0.7,
           label="Daily TSF")
    if target is not None:
        ax.axhline(_num(target), label=f"Target {_num(target):g} %", **TARGET_STYLE)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title(title, loc="left", fontsize=9, fontweight="bold", pad=16)
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%d"))
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, frameon=False, fontsize=7)
    return _svg(fig)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekday_hour_chart(counts: dict[tuple[int, int], int], title: str) -> str | None:
    """Calls by ISO weekday (1 = Monday) and local hour (0-23) as a heat map, each cell's
    colour its number of calls (scale beside it)."""
    if not any(counts.values()):
        return None
    grid = [[counts.get((day, hour), 0) for hour in range(24)] for day in range(1, 8)]
    fig = Figure(figsize=(WIDTH_IN, 1.25))
    ax = fig.subplots()
    image = ax.imshow(grid, aspect="auto", cmap="Blues", interpolation="nearest")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel("hour of the day (local)")
    ax.grid(False)
    ax.set_title(title, loc="left", fontsize=9, fontweight="bold")
    fig.colorbar(image, ax=ax, label="calls", pad=0.01)
    return _svg(fig)
