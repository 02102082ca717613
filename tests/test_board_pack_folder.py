"""A month's board packs change all at once (dagster_project/report/month_folder.py): a writer
that fails or is killed midway leaves the month as it was, a reader never sees two sets mixed,
a partner's pack alone keeps the others, and writers of one month take turns. Real files and
real processes; the packs' own content is tested in tests/test_board_pack.py."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from dagster_project.report.month_folder import SETS, month_link, replacing_month
from dagster_project.report.pack import _write

MONTH = dt.date(2024, 4, 1)
NAMES = [f"partner-p{i}-2024-04.html" for i in range(6)] + ["hub-board-2024-04.html"]


def _write_set(reports: Path, text: str, names=NAMES, keep_others: bool = False) -> None:
    with replacing_month(reports, MONTH, keep_others=keep_others) as folder:
        for name in names:
            _write(folder / name, text)


def _shown(reports: Path) -> dict[str, str]:
    folder = month_link(reports, MONTH)
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())}


def _sets(reports: Path) -> list[str]:
    return sorted(p.name for p in (reports / SETS / f"{MONTH:%Y-%m}").iterdir())


def _shown_set(reports: Path) -> list[str]:
    return [Path(os.readlink(month_link(reports, MONTH))).name]


def test_a_new_set_replaces_the_month_and_the_old_set_is_removed(tmp_path):
    _write_set(tmp_path, "first")
    link = month_link(tmp_path, MONTH)
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # moves with the folder
    assert _shown(tmp_path) == dict.fromkeys(NAMES, "first")
    _write_set(tmp_path, "second", NAMES[:3])
    assert _shown(tmp_path) == dict.fromkeys(NAMES[:3], "second")  # nothing stale kept
    assert _sets(tmp_path) == _shown_set(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".link")]


def test_a_reports_folder_reached_through_a_link_keeps_the_set_it_shows(tmp_path):
    """HUB_REPORTS_DIR through a symbolic link (/srv/hub -> /mnt/...): the set shown is known
    by name, so the next writer never takes it for a leftover."""
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    reports = tmp_path / "via"
    _write_set(reports, "first")
    with replacing_month(reports, MONTH) as folder:
        assert _shown(reports) == dict.fromkeys(NAMES, "first")  # still there while writing
        _write(folder / NAMES[0], "second")
    assert _shown(reports) == {NAMES[0]: "second"}
    assert _sets(reports) == _shown_set(reports)


def test_a_failed_writer_leaves_the_month_as_it_was(tmp_path):
    _write_set(tmp_path, "first")
    with (pytest.raises(RuntimeError, match="printing failed"),
          replacing_month(tmp_path, MONTH) as folder):
        _write(folder / NAMES[0], "second")
        raise RuntimeError("printing failed")
    assert _shown(tmp_path) == dict.fromkeys(NAMES, "first")
    assert _sets(tmp_path) == _shown_set(tmp_path)


KILLED_WRITER = textwrap.dedent("""
    import datetime as dt, sys, time
    from pathlib import Path
    from dagster_project.report.month_folder import replacing_month

    with replacing_month(Path(sys.argv[1]), dt.date(2024, 4, 1)) as folder:
        (folder / "hub-board-2024-04.html").write_text("second", encoding="utf-8")
        print("half written", flush=True)
        time.sleep(60)
""")


def test_a_killed_writer_leaves_the_month_as_it_was_and_the_next_cleans_up(tmp_path):
    _write_set(tmp_path, "first")
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "half written"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert _shown(tmp_path) == dict.fromkeys(NAMES, "first")
    assert len(_sets(tmp_path)) == 2  # the killed writer's half set, invisible to readers
    _write_set(tmp_path, "third")  # the lock was released by the kernel: no wait
    assert _shown(tmp_path) == dict.fromkeys(NAMES, "third")
    assert _sets(tmp_path) == _shown_set(tmp_path)


def test_a_reader_never_sees_two_sets_mixed(tmp_path):
    """Each set's files all say its number; a reader lists and reads the month again and again
    while 40 sets replace each other. Written file by file into the month's folder, as before
    this layout, the reader would see numbers mixed and sets half written."""
    _write_set(tmp_path, "0")
    done = threading.Event()
    seen: list[set[str]] = []

    def read() -> None:
        link = month_link(tmp_path, MONTH)
        while not done.is_set():
            folder = Path(os.path.realpath(link))  # one set, as one request of a reader
            try:
                texts = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
            except FileNotFoundError:  # that set was replaced and removed meanwhile
                continue
            if texts:
                assert sorted(texts) == sorted(NAMES), sorted(texts)
                seen.append(set(texts.values()))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for number in range(1, 41):
            _write_set(tmp_path, str(number))
    finally:
        done.set()
        reader.join(timeout=60)
    assert seen and all(len(values) == 1 for values in seen), [v for v in seen if len(v) > 1]
    assert _shown(tmp_path) == dict.fromkeys(NAMES, "40")


def test_a_partners_pack_alone_keeps_the_others_and_never_rewrites_what_readers_hold(tmp_path):
    _write_set(tmp_path, "first")
    held = (month_link(tmp_path, MONTH) / NAMES[0]).open(encoding="utf-8")
    try:
        _write_set(tmp_path, "second", NAMES[:1], keep_others=True)
        assert held.read() == "first"  # the carried-over hard link was replaced, not rewritten
    finally:
        held.close()
    assert _shown(tmp_path) == {**dict.fromkeys(NAMES, "first"), NAMES[0]: "second"}


def test_a_month_folder_of_the_earlier_layout_is_replaced_whole(tmp_path):
    plain = month_link(tmp_path, MONTH)
    plain.mkdir()
    (plain / "hub-board-2024-04.pdf").write_bytes(b"%PDF- old")
    _write_set(tmp_path, "new")
    assert plain.is_symlink()
    assert _shown(tmp_path) == dict.fromkeys(NAMES, "new")
    assert _sets(tmp_path) == _shown_set(tmp_path)


def test_writers_of_one_month_take_turns(tmp_path):
    """A second writer waits for the first to finish (the board pack sensor's run beside a
    `hub report`); the last to finish is what the month shows."""
    first_inside, release = threading.Event(), threading.Event()
    second_done = threading.Event()

    def first() -> None:
        with replacing_month(tmp_path, MONTH) as folder:
            _write(folder / NAMES[0], "first")
            first_inside.set()
            release.wait(timeout=30)

    def second() -> None:
        _write_set(tmp_path, "second", NAMES[:1])
        second_done.set()

    one = threading.Thread(target=first)
    one.start()
    assert first_inside.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    assert not second_done.wait(timeout=0.5)  # held back while the first writes
    release.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert second_done.is_set()
    assert _shown(tmp_path) == {NAMES[0]: "second"}
    assert _sets(tmp_path) == _shown_set(tmp_path)
