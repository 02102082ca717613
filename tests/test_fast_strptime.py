"""tests/fast_strptime.py reads every string as `datetime.strptime` does: the same datetime, or a
ValueError for the same strings."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.fast_strptime import _shape, strptime

FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
           "%Y-%m-%d", "%d/%m/%Y", "%m-%d-%Y %I:%M %p", "%Y%m%d%H%M%S", "%d.%m.%y"]
TEXTS = ["2024-03-01 09:05:07", "2024-03-01T09:05:07Z", "01/03/2024 09:05:07", "01/03/2024 09:05",
         "2024-03-01", "01/03/2024", "20240301090507", "01.03.24", "03-01-2024 09:05 PM",
         # what only strptime reads: one digit, two spaces, lower case, leading space
         "2024-3-1 9:5:7", "2024-03-01  09:05:07", "2024-03-01t09:05:07z", " 2024-03-01",
         "1/3/2024 9:05",
         # what neither reads: out of range, trailing text, non-ASCII digits, empty
         "2024-02-30 10:00:00", "2024-13-01 10:00:00", "2024-03-01 24:00:00",
         "2024-03-01 10:60:00", "2024-03-01 10:00:61", "0000-01-01", "2024-03-01 10:00:00x",
         "٢٠٢٤-03-01", "", "31/02/2024", "00/01/2024 00:00", "2024-03-01 10:00"]


def _strptime(text: str, fmt: str) -> dt.datetime | str:
    try:
        return dt.datetime.strptime(text, fmt)
    except ValueError:
        return "ValueError"


def _fast(text: str, fmt: str) -> dt.datetime | str:
    try:
        return strptime(text, fmt)
    except ValueError:
        return "ValueError"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_string_reads_as_strptime_reads_it(fmt):
    assert [_fast(t, fmt) for t in TEXTS] == [_strptime(t, fmt) for t in TEXTS]


def test_the_shortcut_covers_the_partners_numeric_layouts_only():
    assert _shape("%Y-%m-%d %H:%M:%S") is not None
    assert _shape("%d/%m/%Y") is not None
    for fmt in ("%m-%d-%Y %I:%M %p", "%d.%m.%y", "%H:%M", "%Y-%m-%d %Y"):
        assert _shape(fmt) is None, fmt
