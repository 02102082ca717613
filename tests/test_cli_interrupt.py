"""The `hub` commands without an interrupt handling of their own (dagster_project/cli.py,
`main`), stopped by SIGTERM midway in real processes: one line on what each left, status 130,
no traceback; `hub generate` leaves no half-written file; `stop_request.signals_held` lets a
signal act only after its block (`hub rollback`'s two renames)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dagster_project.generate.writers import _renamed_into_place
from dagster_project.settings import REPO_ROOT
from tests.compose_stack import wait_for
from tests.conftest import hub_env
from tests.forked_hub import start_hub

PHONENOW = REPO_ROOT / "seeds" / "realdata" / "phonenow" / "telephony" / "pwc_phonenow_calls.csv"
WAIT_SECONDS = 120  # a bound on a condition, never a guessed sleep


def _terminated_midway(args: list[str], env: dict[str, str], out: Path, started) -> str:
    """`hub <args>` forked, SIGTERM once `started()`; its output, after checking that it ended
    with status 130 and no traceback."""
    proc = start_hub(args, env, out)
    try:
        wait_for(started, WAIT_SECONDS, f"hub {args[0]} to start its work", proc, out.read_text,
                 poll=0.02)
        assert proc.poll() is None, f"hub {args[0]} ended before its SIGTERM:\n{out.read_text()}"
        subprocess.run(["kill", "-TERM", str(proc.pid)], check=True)
        status = proc.wait(timeout=WAIT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert status == 130, text
    assert "Traceback" not in text and "RuntimeError" not in text, text
    return text


def test_generate_stopped_midway_says_what_it_left_and_leaves_no_half_written_file(tmp_path):
    data = tmp_path / "data"
    landing = data / "landing"

    def a_file_written() -> bool:
        return landing.is_dir() and any(p.is_file() and not p.name.startswith(".")
                                        for p in landing.rglob("*"))

    text = _terminated_midway(["generate", "--months", "12", "--scale", "0.5"], hub_env(data),
                              tmp_path / "out.txt", a_file_written)
    assert "hub generate: interrupted (SIGTERM or Ctrl-C): the files written so far are whole" \
        in text
    assert "Sample landing data" not in text  # stopped, not run to its end
    assert not [p for p in landing.rglob(".*.tmp")]


def test_check_stopped_midway_says_nothing_was_published(tmp_path):
    data = tmp_path / "data"
    throwaway = data / "tmp" / "check" / "warehouse.duckdb"
    text = _terminated_midway(["check", "phonenow", str(PHONENOW)], hub_env(data),
                              tmp_path / "out.txt", throwaway.exists)
    assert "hub check: interrupted (SIGTERM or Ctrl-C): nothing was published" in text
    assert not (data / "serving").exists()


def test_a_file_whose_writing_fails_is_not_left_half_written(tmp_path):
    target = tmp_path / "partner" / "calls.csv"
    with pytest.raises(KeyboardInterrupt), _renamed_into_place(target) as temporary:
        temporary.write_bytes(b"half a file")
        raise KeyboardInterrupt
    assert not target.exists() and list(target.parent.iterdir()) == []
    with _renamed_into_place(target) as temporary:
        temporary.write_bytes(b"a whole file")
    assert target.read_bytes() == b"a whole file" and list(target.parent.iterdir()) == [target]


HELD = textwrap.dedent("""
    import os, signal, sys
    from dagster_project.stop_request import interrupt_on_signals, signals_held

    interrupt_on_signals()
    steps = []
    try:
        with signals_held():
            steps.append("first")
            if sys.argv[1] == "signal":
                os.kill(os.getpid(), signal.SIGTERM)
            steps.append("second")
        steps.append("after")
    except KeyboardInterrupt:
        steps.append("interrupted")
    print(" ".join(steps), flush=True)
""")


@pytest.mark.parametrize(("sent", "steps"), [("signal", "first second interrupted"),
                                             ("none", "first second after")])
def test_a_signal_within_signals_held_acts_at_the_blocks_end(sent, steps):
    proc = subprocess.run([sys.executable, "-c", HELD, sent], capture_output=True, text=True,
                          timeout=WAIT_SECONDS)
    assert (proc.returncode, proc.stdout) == (0, steps + "\n"), proc.stderr
