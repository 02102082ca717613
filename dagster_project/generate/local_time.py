"""Local wall-clock time and clock changes (zoneinfo).

Calls are simulated in the partner's local wall-clock time, held as "naive epoch seconds"
(seconds since 1970-01-01 00:00 of the local calendar, ignoring the offset). Local times that do
not exist (the hour skipped when clocks go forward) receive no arrivals; in the repeated hour
when clocks go back, the first (summer-time) occurrence is used (`fold=0`).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

EPOCH = dt.datetime(1970, 1, 1)
DAY = 86_400


def _naive(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=int(seconds))


def _offset_seconds(local: dt.datetime, zone: ZoneInfo) -> int:
    offset = local.replace(tzinfo=zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _exists(local: dt.datetime, zone: ZoneInfo) -> bool:
    aware = local.replace(tzinfo=zone)
    back = aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    return back == local


def transition_days(day_numbers: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Days whose UTC offset at local midnight differs from the next local midnight's."""
    start = np.array([_offset_seconds(_naive(d * DAY), zone) for d in day_numbers.tolist()])
    end = np.array([_offset_seconds(_naive((d + 1) * DAY), zone) for d in day_numbers.tolist()])
    return start != end


def missing_bins(day_numbers: np.ndarray, zone: ZoneInfo, bin_seconds: int) -> np.ndarray:
    """Boolean (days, bins) mask of local time bins that do not exist (clocks went forward)."""
    bins = DAY // bin_seconds
    mask = np.zeros((len(day_numbers), bins), dtype=bool)
    for index in np.flatnonzero(transition_days(day_numbers, zone)):
        base = int(day_numbers[index]) * DAY
        for b in range(bins):
            mask[index, b] = not _exists(_naive(base + b * bin_seconds), zone)
    return mask


def local_to_utc(local_seconds: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Convert naive local epoch seconds to UTC epoch seconds, correct across clock changes."""
    if len(local_seconds) == 0:
        return local_seconds.copy()
    day = local_seconds // DAY
    first, last = int(day.min()), int(day.max())
    day_numbers = np.arange(first, last + 1)
    noon = np.array(
        [_offset_seconds(_naive(d * DAY + 12 * 3600), zone) for d in day_numbers.tolist()]
    )
    utc = local_seconds - noon[day - first]
    changing = transition_days(day_numbers, zone)
    if changing.any():
        rows = np.flatnonzero(np.isin(day, day_numbers[changing]))
        for row in rows.tolist():
            seconds = int(local_seconds[row])
            utc[row] = seconds - _offset_seconds(_naive(seconds), zone)
    return utc
