"""A job that runs until told to stop (the file RELEASE_FILE appears), for
tests/test_run_monitoring.py: a real run in a real Dagster code server."""

import os
import time

import dagster as dg


@dg.op
def wait_for_release() -> None:
    release = os.environ["RELEASE_FILE"]
    deadline = time.monotonic() + 120  # never outlives a failed test for long
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.1)


@dg.job
def waits_for_release() -> None:
    wait_for_release()


defs = dg.Definitions(jobs=[waits_for_release])
