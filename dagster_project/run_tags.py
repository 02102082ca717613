"""The tags of `hub build`'s own Dagster runs (dagster_project/build.py): the trigger, and the
process and host that run it, so that the Dagster UI's Terminate can stop that process
(dagster_project/orchestration/run_launcher.py). Plain Python: no Dagster imports."""

from __future__ import annotations

import os
import socket

TRIGGER_TAG = "hub/trigger"
HUB_BUILD = "hub build"  # the trigger of `hub build`'s in-process runs
PID_TAG = "hub/pid"
HOST_TAG = "hub/host"


def hub_build_tags() -> dict[str, str]:
    """The tags of a run `hub build` executes in this process."""
    return {TRIGGER_TAG: HUB_BUILD, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
