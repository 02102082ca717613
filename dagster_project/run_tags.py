"""The tags of `hub build`'s own Dagster runs (dagster_project/build.py): the trigger, the process
and host that run it, and the working warehouse it writes, so that the Dagster UI's Terminate can
tell whether that build is still running (dagster_project/orchestration/run_launcher.py). Plain
Python: no Dagster imports."""

from __future__ import annotations

import os
import socket
from pathlib import Path

TRIGGER_TAG = "hub/trigger"
HUB_BUILD = "hub build"  # the trigger of `hub build`'s in-process runs
PID_TAG = "hub/pid"
HOST_TAG = "hub/host"
WORK_DB_TAG = "hub/work_db"  # whose writer lock the build holds


def hub_build_tags(work_db: Path) -> dict[str, str]:
    """The tags of a run `hub build` executes in this process over the working warehouse
    `work_db`."""
    return {TRIGGER_TAG: HUB_BUILD, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
            WORK_DB_TAG: str(work_db)}
