"""`stop_when` (dagster_project/stop_request.py), in real processes: the process sends itself
SIGTERM once asked, asks again after an error, and sends nothing once its block has ended."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dagster_project.stop_request import stop_when

    flag, mode = Path(sys.argv[1]), sys.argv[2]
    asked_at = []

    def asked():
        asked_at.append(time.monotonic())
        if mode == "error" and len(asked_at) == 1:
            raise OSError("storage briefly unavailable")
        return flag.exists()

    with stop_when(asked, every_seconds=0.05):
        if mode == "ended":
            time.sleep(0.3)
        else:
            print("waiting", flush=True)
            time.sleep(60)
    flag.touch()  # asked() would now answer yes: nothing may be sent any more
    time.sleep(0.5)
    print("ended", flush=True)
""")


def _child(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    flag = tmp_path / "stop"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(flag), mode],
                            stdout=subprocess.PIPE, text=True)
    return proc, flag


@pytest.mark.parametrize("mode", ["asked", "error"])
def test_the_process_stops_itself_once_asked(tmp_path, mode):
    proc, flag = _child(tmp_path, mode)
    assert proc.stdout.readline() == "waiting\n"
    assert proc.poll() is None
    flag.touch()
    assert proc.wait(timeout=20) == -15  # SIGTERM, Python's default action


def test_nothing_is_sent_once_the_block_has_ended(tmp_path):
    proc, _ = _child(tmp_path, "ended")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out == "ended\n"


LOST_INTERRUPT = textwrap.dedent("""
    import time
    from dagster_project.stop_request import interrupt_on_signals, raise_if_interrupted

    interrupt_on_signals()

    class Slow:
        def __del__(self):
            print("finalizing", flush=True)
            time.sleep(30)  # SIGTERM comes here: Python ignores its KeyboardInterrupt

    held = Slow()
    try:
        del held
        print("went on", flush=True)
        raise_if_interrupted()
        print("not stopped", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
""")


def test_a_sigterm_whose_interrupt_python_ignored_still_stops_at_the_next_check():
    """SIGTERM during a finalizer: Python ignores the handler's KeyboardInterrupt (as it did
    once in `hub report`, which then went on to replace the month's packs); the check that
    follows raises it again."""
    proc = subprocess.Popen([sys.executable, "-c", LOST_INTERRUPT], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "finalizing\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert "Exception ignored" in err and "KeyboardInterrupt" in err
    assert (proc.returncode, out) == (0, "went on\nstopped\n")


IGNORING_SIGINT = textwrap.dedent("""
    import signal, time
    from dagster_project.stop_request import interrupt_on_signals

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a job in the background
    interrupt_on_signals()
    try:
        print("ready", flush=True)
        time.sleep(30)
    except KeyboardInterrupt:
        print("stopped", flush=True)
""")


def test_a_sigint_the_process_was_started_ignoring_stays_ignored():
    proc = subprocess.Popen([sys.executable, "-c", IGNORING_SIGINT], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert (proc.returncode, out) == (0, "stopped\n")
