"""A console script's process ends without Python's teardown (dagster_project/process_exit.py),
yet exits with the command's status, its output flushed and the atexit handlers run; a
non-daemon thread still running is waited for, as Python's own exit would. Real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _run(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """A script whose main() is `body`, ended by run_and_end; its atexit handler marks a file."""
    script = tmp_path / "script.py"
    header = textwrap.dedent(f"""\
        import atexit, sys, threading, time
        from pathlib import Path
        from dagster_project.process_exit import run_and_end

        atexit.register(Path({str(tmp_path / "atexit-ran")!r}).touch)

        def main():
        """)
    footer = "\nrun_and_end(main)\nprint('not reached')\n"
    script.write_text(header + textwrap.indent(textwrap.dedent(body), "    ") + footer)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("body", "status", "stdout", "stderr"), [
    ("sys.stdout.write('partial line, no newline'); return 3", 3, "partial line, no newline",
     ""),
    ("print('done'); return None", 0, "done\n", ""),
    ("sys.exit(4)", 4, "", ""),
    ("sys.exit('hub: the message')", 1, "", "hub: the message\n"),
])
def test_status_output_and_atexit_as_a_normal_exit(tmp_path, body, status, stdout, stderr):
    proc = _run(tmp_path, body)
    assert (proc.returncode, proc.stdout, proc.stderr) == (status, stdout, stderr)
    assert (tmp_path / "atexit-ran").exists()


def test_an_exception_still_prints_its_traceback(tmp_path):
    proc = _run(tmp_path, "raise RuntimeError('boom')")
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stderr and "Traceback" in proc.stderr


def test_a_running_non_daemon_thread_is_waited_for(tmp_path):
    done = tmp_path / "thread-done"
    proc = _run(tmp_path, f"""\
        def work():
            time.sleep(0.5)
            Path({str(done)!r}).touch()
        threading.Thread(target=work).start()
        return 0""")
    assert proc.returncode == 0, proc.stderr
    assert done.exists()  # os._exit would have killed the thread before it wrote
    assert (tmp_path / "atexit-ran").exists()
