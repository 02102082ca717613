"""DuckDB's freed memory overwritten before it is reused (docs/crm.md, "Clear values in freed
memory").

DuckDB writes bytes it never initialised into its database files: padding in the storage blocks
it writes, up to 7 bytes at a time, dozens per block. On Linux its memory comes from its own
copy of jemalloc, so those bytes are whatever an earlier allocation of the process left there,
and the loader's earlier allocations held the clear personal values it pseudonymises: a fragment
of a test name once reached the work database that way. jemalloc's `junk:free` fills memory
with 0x5a as it is freed, so what DuckDB later writes uninitialised is never an earlier value.

jemalloc reads its options once, at DuckDB's first allocation, from `DUCKDB_JE_MALLOC_CONF`:
`request()` adds the option to the environment (the package's `__init__` calls it, before any
module imports DuckDB; child processes inherit it), and `require()` checks that it took effect
before a connection reads personal values (`privacy.register_udfs`).

Plain Python: DuckDB is imported only by `in_effect()`.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

ENV = "DUCKDB_JE_MALLOC_CONF"
OPTION = "junk:free"
# values of jemalloc's `junk` option that fill freed memory
_FILLS_FREED = frozenset({"free", "true"})


class FreedMemoryNotOverwritten(RuntimeError):
    """DuckDB's allocator does not overwrite freed memory in this process."""


def _junk(conf: str) -> str | None:
    """The value of the last `junk:` option in a jemalloc option list (the one that counts)."""
    values = [item.partition(":")[2] for item in conf.split(",") if item.startswith("junk:")]
    return values[-1] if values else None


def request(environ: MutableMapping[str, str] = os.environ) -> None:
    """Add `junk:free` to `DUCKDB_JE_MALLOC_CONF` in `environ`, unless its options already fill
    freed memory (options set there before are kept: the last of a kind counts)."""
    conf = environ.get(ENV, "").strip().strip(",")
    if _junk(conf) not in _FILLS_FREED:
        environ[ENV] = f"{conf},{OPTION}" if conf else OPTION


def in_effect() -> bool | None:
    """Whether DuckDB's allocator overwrites freed memory in this process; None where DuckDB
    has no jemalloc of its own (builds other than Linux), which this cannot tell."""
    import ctypes

    import _duckdb

    try:
        mallctl = ctypes.CDLL(_duckdb.__file__).duckdb_je_mallctl
    except (OSError, AttributeError):
        return None
    value = ctypes.c_char_p()
    size = ctypes.c_size_t(ctypes.sizeof(value))
    if mallctl(b"opt.junk", ctypes.byref(value), ctypes.byref(size), None, ctypes.c_size_t(0)):
        return None
    return (value.value or b"").decode() in _FILLS_FREED


def require() -> None:
    """Raise FreedMemoryNotOverwritten when DuckDB started in this process before `request()`
    could ask its allocator to overwrite freed memory."""
    if in_effect() is False:
        raise FreedMemoryNotOverwritten(
            f"DuckDB was started in this process before dagster_project set {ENV}={OPTION} "
            "(its memory allocator reads the variable once), so memory that held clear personal "
            "values could reach the database files: import dagster_project before duckdb, or "
            f"set {ENV}={OPTION} in the environment")
