"""Ending a command's process without Python's teardown of its modules.

A process that has imported Dagster, dbt or Superset spends one to two CPU-seconds after its
work is done in the interpreter's finalisation, clearing the objects of modules nothing will use
again: 1.6 s of a 13 s `hub build` of a small warehouse, on every build, check, report and dbt
run (docs/benchmarks-journal.md, "The interpreter's teardown"). The commands release what they hold
themselves (DuckDB connections closed, published files renamed into place, Dagster's instance
closed by its context manager, the writer lock released by the kernel at exit), so a command's
process ends here instead: the `atexit` handlers run (logging's flush and close, multiprocessing's
finalizers, temporary folders), stdout and stderr are flushed, and the process exits with the
command's status. While another non-daemon thread is still running, Python's own exit, which
waits for that thread, is kept.

Only for the console scripts' processes (`hub`, `hub-dbt`, Superset's provisioning): code that
calls a command's `main()` in its own process (the tests) keeps its normal return.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


def _status(code: object) -> int:
    """The exit status Python gives `sys.exit(code)`: 0 for None, an int as it is, and 1 for
    anything else (which is printed on stderr first)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _other_threads_running() -> bool:
    main = threading.main_thread()
    return any(thread is not main and not thread.daemon and thread.is_alive()
               for thread in threading.enumerate())


def end_process(code: object) -> NoReturn:
    """Exit with `code` (as `sys.exit` would) after the atexit handlers, without the
    interpreter's teardown."""
    if _other_threads_running():
        sys.exit(code)
    status = _status(code)
    # atexit's handlers as the interpreter would run them at exit (documented in CPython since
    # 3.0, not in the public API): logging.shutdown, multiprocessing's and tempfile's finalizers
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream: nothing more to say
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def run_and_end(main: Callable[[], object]) -> NoReturn:
    """Run a console script's `main()` and end the process with its status (its return value,
    or the code of the SystemExit it raised). Any other exception propagates as usual (Python
    prints its traceback and exits 1)."""
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code
    end_process(code)
