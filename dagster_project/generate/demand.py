"""Expected call demand: day of week, time of day, seasons, weather, trend.

Demand is an expected number of arrivals per (day, 15-minute local bin, queue). Two versions are
built from the same shape:

* `realised` - the Poisson mean the simulation draws arrivals from. It carries everything that
  happens: weather events, month and day noise, the full seasonal peaks.
* `planned` - what the partner's workforce planners forecast and staff to. It knows the weekday
  pattern, trend and (only partly) the seasonal peaks, but neither noise nor weather. The gap
  between the two is what blows service levels on peak and snow days.

All multipliers are invented; figures describe fictional councils only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .closures import DayWindows

BIN_SECONDS = 900
BINS_PER_DAY = 86_400 // BIN_SECONDS

# Relative willingness to call by local clock hour (00..23): morning peak around 10:00,
# lunch dip, afternoon shoulder, a thin evening tail and almost nothing at night.
HOURLY_INTENT = (
    0.003, 0.002, 0.002, 0.002, 0.003, 0.005, 0.010, 0.030,
    0.300, 0.880, 1.000, 0.930, 0.700, 0.680, 0.800, 0.720,
    0.560, 0.260, 0.080, 0.045, 0.030, 0.018, 0.010, 0.005,
)  # fmt: skip

# Mean weekday demand = base_calls_per_weekday: Monday heaviest, Friday lighter.
WEEKDAY_WEIGHT = np.array([1.22, 1.05, 1.00, 0.97, 0.76, 0.09, 0.04])
OPEN_WEEKEND_WEIGHT = (0.16, 0.08)  # Saturday, Sunday when the partner opens that day
BANK_HOLIDAY_WEIGHT = 0.08  # callers who ring anyway and hear the closed message
OUT_OF_HOURS_SHARE = 0.025  # of an open day's demand arriving before opening / after closing
AFTER_CLOSURE_SURGE = 1.15  # first open weekday after a bank holiday
PLANNED_SEASON_SHARE = 0.65  # planners anticipate 65% of a seasonal uplift

# Seasonal multipliers as (month, day, multiplier) knots, interpolated linearly per year.
ALL_QUEUES_SEASON = (
    (1, 1, 1.0), (1, 5, 1.08), (1, 20, 1.0), (7, 20, 1.0), (8, 10, 0.9), (8, 31, 0.92),
    (9, 8, 1.0), (12, 12, 1.0), (12, 19, 0.85), (12, 23, 0.75), (12, 24, 0.6), (12, 27, 0.5),
    (12, 31, 0.55),
)  # fmt: skip
SERVICE_LINE_SEASON: dict[str, tuple[tuple[int, int, float], ...]] = {
    # annual bills land early March: big spike mid-March to mid-April
    "council_tax": (
        (1, 1, 1.0), (2, 25, 1.0), (3, 4, 1.3), (3, 11, 2.4), (3, 25, 2.6), (4, 8, 2.0),
        (4, 22, 1.25), (5, 12, 1.05), (6, 1, 1.0), (12, 31, 1.0),
    ),
    # missed collections after Christmas, garden-waste renewals February to April
    "waste": (
        (1, 1, 1.0), (1, 2, 1.35), (1, 12, 1.0), (1, 25, 1.0), (2, 15, 1.3), (3, 10, 1.5),
        (4, 10, 1.35), (4, 30, 1.05), (5, 15, 1.0), (12, 31, 1.0),
    ),
    "benefits": ((1, 1, 1.0), (3, 25, 1.0), (4, 8, 1.15), (4, 30, 1.0), (12, 31, 1.0)),
    "highways": ((1, 1, 1.15), (3, 31, 1.0), (10, 31, 1.0), (12, 31, 1.15)),
    "housing": ((1, 1, 1.1), (3, 1, 1.0), (11, 1, 1.0), (12, 31, 1.1)),
    # school application deadlines and offer days
    "education": (
        (1, 1, 1.0), (1, 8, 1.3), (1, 16, 1.0), (2, 26, 1.0), (3, 3, 1.5), (3, 10, 1.0),
        (4, 12, 1.0), (4, 17, 1.4), (4, 24, 1.0), (8, 20, 1.0), (9, 1, 1.2), (9, 15, 1.0),
        (10, 20, 1.0), (10, 30, 1.25), (11, 5, 1.0), (12, 31, 1.0),
    ),
}  # fmt: skip

# How strongly a weather event (severity s >= 1) lifts each service line: 1 + k * (s - 1).
WEATHER_SENSITIVITY = {
    "highways": 1.0, "waste": 0.6, "education": 0.5, "environment": 0.3, "general": 0.2,
    "social_care": 0.15, "housing": 0.15,
}  # fmt: skip
WEATHER_STAFFING = 0.85  # share of rostered agents who make it in on a weather day
WEATHER_TAG = 0x5E_A7_4E_12  # stream tag so weather depends on the seed only


def intraday_intent() -> np.ndarray:
    """Relative intent per 15-minute bin (96 values), interpolated from `HOURLY_INTENT`."""
    centres = np.arange(24) + 0.5
    mids = (np.arange(BINS_PER_DAY) + 0.5) * BIN_SECONDS / 3600
    return np.interp(mids, centres, HOURLY_INTENT)


def annual_curve(day_numbers: np.ndarray, knots: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    """Piecewise-linear yearly curve through (month, day, value) knots, for each day number."""
    first = dt.date(1970, 1, 1) + dt.timedelta(days=int(day_numbers.min()))
    last = dt.date(1970, 1, 1) + dt.timedelta(days=int(day_numbers.max()))
    epoch = dt.date(1970, 1, 1).toordinal()
    xs, ys = [], []
    for year in range(first.year - 1, last.year + 2):
        for month, day, value in knots:
            xs.append(dt.date(year, month, day).toordinal() - epoch)
            ys.append(value)
    return np.interp(day_numbers, np.array(xs), np.array(ys))


def weather_severity(seed: int, day_numbers: np.ndarray) -> np.ndarray:
    """Severity (1 = normal weather) per day: 2-4 snow/storm events per winter, 1-3 days each.

    Drawn from the seed and the winter alone, so every partner sees the same events (shared
    regional weather) and a winter's events do not depend on the generated window.
    """
    severity = np.ones(len(day_numbers))
    epoch = dt.date(1970, 1, 1)
    first = epoch + dt.timedelta(days=int(day_numbers.min()))
    last = epoch + dt.timedelta(days=int(day_numbers.max()))
    for winter in range(first.year - 1, last.year + 1):
        rng = np.random.default_rng([seed, WEATHER_TAG, winter])
        season_start = (dt.date(winter, 11, 20) - epoch).days
        season_days = (dt.date(winter + 1, 3, 10) - dt.date(winter, 11, 20)).days
        for _ in range(int(rng.integers(2, 5))):
            start = season_start + int(rng.integers(0, season_days))
            length = int(rng.integers(1, 4))
            peak = float(rng.uniform(1.6, 3.0))
            for offset in range(length):
                hit = day_numbers == start + offset
                # the first day is the worst; the tail eases off
                severity[hit] = np.maximum(severity[hit], 1 + (peak - 1) * 0.7**offset)
    return severity


@dataclass(frozen=True)
class Demand:
    realised: np.ndarray  # (days, bins, queues) Poisson means of arrivals
    planned: np.ndarray  # (days, bins, queues) the planners' forecast
    weather: np.ndarray  # (days,) weather severity, 1 = normal


def _day_shape(windows: DayWindows, missing: np.ndarray) -> np.ndarray:
    """(days, bins) share of each day's demand per bin: in-hours vs out-of-hours split."""
    intent = np.broadcast_to(intraday_intent(), missing.shape).copy()
    intent[missing] = 0.0
    starts = np.arange(BINS_PER_DAY) * BIN_SECONDS
    inside = (starts >= windows.opens[:, None]) & (starts < windows.closes[:, None])
    in_mass = np.where(inside, intent, 0.0).sum(axis=1, keepdims=True)
    out_mass = np.where(inside, 0.0, intent).sum(axis=1, keepdims=True)
    total = intent.sum(axis=1, keepdims=True)
    open_shape = np.where(
        inside,
        (1 - OUT_OF_HOURS_SHARE) * intent / np.maximum(in_mass, 1e-12),
        OUT_OF_HOURS_SHARE * intent / np.maximum(out_mass, 1e-12),
    )
    closed_shape = intent / total
    return np.where(windows.is_open[:, None], open_shape, closed_shape)


def _day_weights(day_numbers: np.ndarray, windows: DayWindows) -> np.ndarray:
    weekday = (day_numbers + 3) % 7
    weight = WEEKDAY_WEIGHT[weekday].copy()
    for day, open_weight in zip((5, 6), OPEN_WEEKEND_WEIGHT, strict=True):
        weight[(weekday == day) & windows.is_open] = open_weight
    weight[windows.is_bank_holiday] = BANK_HOLIDAY_WEIGHT
    # the first open weekday after a closed weekday (bank holiday) catches up
    closed_weekday = (weekday < 5) & ~windows.is_open
    after = np.zeros(len(day_numbers), dtype=bool)
    run_closed = False
    for index in range(len(day_numbers)):
        if weekday[index] >= 5:
            continue
        if windows.is_open[index]:
            after[index] = run_closed
            run_closed = False
        elif closed_weekday[index]:
            run_closed = True
    weight[after] *= AFTER_CLOSURE_SURGE
    return weight


def build_demand(
    *,
    base_calls_per_weekday: float,
    queue_weights: np.ndarray,
    service_lines: list[str],
    day_numbers: np.ndarray,
    windows: DayWindows,
    missing: np.ndarray,
    weather: np.ndarray,
    rng: np.random.Generator,
) -> Demand:
    """Realised and planned expected arrivals for one partner."""
    shape = _day_shape(windows, missing)
    weights = _day_weights(day_numbers, windows)
    years = (day_numbers - day_numbers[0]) / 365.25
    trend = (1 + rng.uniform(-0.05, 0.06)) ** years
    general = annual_curve(day_numbers, ALL_QUEUES_SEASON)

    # unplanned noise: by calendar month and by day
    months = (day_numbers.astype("datetime64[D]").astype("datetime64[M]")).astype(np.int64)
    month_index = months - months.min()
    month_noise = rng.lognormal(0.0, 0.05, size=int(month_index.max()) + 1)[month_index]
    day_noise = rng.lognormal(0.0, 0.07, size=len(day_numbers))

    season = np.empty((len(day_numbers), len(service_lines)))
    lift = np.empty_like(season)
    for q, line in enumerate(service_lines):
        curve = general.copy()
        if line in SERVICE_LINE_SEASON:
            curve *= annual_curve(day_numbers, SERVICE_LINE_SEASON[line])
        season[:, q] = curve
        lift[:, q] = 1 + WEATHER_SENSITIVITY.get(line, 0.05) * (weather - 1)
    planned_season = 1 + PLANNED_SEASON_SHARE * (season - 1)

    base = base_calls_per_weekday * weights * trend
    realised_day = (base * month_noise * day_noise)[:, None] * queue_weights * season * lift
    planned_day = base[:, None] * queue_weights * planned_season
    return Demand(
        realised=shape[:, :, None] * realised_day[:, None, :],
        planned=shape[:, :, None] * planned_day[:, None, :],
        weather=weather,
    )
