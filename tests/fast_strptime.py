"""`datetime.strptime`, with a shortcut for the fixed-width numeric layouts partners use.

The independent recomputations parse every landing timestamp with Python's `strptime`, which
builds a regular expression match and a `struct_time` per call: a few CPU-seconds per test
module. For a layout of `%Y`, `%m`, `%d`, `%H`, `%M`, `%S` (each once) and literal text, a
string of exactly that shape (four and two ASCII digits) is read straight into a `datetime`;
any other string, or any other layout, goes to `strptime` itself. So the result, and the
`ValueError` for what `strptime` refuses, are `strptime`'s: whatever the shortcut reads,
`strptime` reads the same way (`tests/test_fast_strptime.py` compares them).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

_FIELDS = {"Y": ("([0-9]{4})", "year"), "m": ("([0-9]{2})", "month"),
           "d": ("([0-9]{2})", "day"), "H": ("([0-9]{2})", "hour"),
           "M": ("([0-9]{2})", "minute"), "S": ("([0-9]{2})", "second")}
_ARGUMENTS = ("year", "month", "day", "hour", "minute", "second")


@lru_cache(maxsize=64)
def _shape(fmt: str) -> tuple[re.Pattern[str], tuple[int, ...]] | None:
    """The exact shape of `fmt`'s strings and the group of each datetime argument, or None
    when the layout needs `strptime` (another directive, a repeated one, no full date)."""
    pattern, names = [], []
    for token in re.split(r"(%.)", fmt):
        if token.startswith("%"):
            field = _FIELDS.get(token[1])
            if field is None or field[1] in names:
                return None
            pattern.append(field[0])
            names.append(field[1])
        elif token:
            pattern.append(re.escape(token))
    if not {"year", "month", "day"} <= set(names):
        return None
    # for each datetime argument, its group; a time field absent from the layout reads "0"
    order = tuple(names.index(n) if n in names else len(names) for n in _ARGUMENTS)
    return re.compile("".join(pattern)), order


def strptime(text: str, fmt: str) -> dt.datetime:
    shape = _shape(fmt)
    if shape is not None:
        match = shape[0].fullmatch(text)
        if match is not None:
            groups = (*match.groups(), "0")
            try:
                return dt.datetime(*[int(groups[i]) for i in shape[1]])
            except ValueError:
                pass  # out of range: strptime raises its own error
    return dt.datetime.strptime(text, fmt)
