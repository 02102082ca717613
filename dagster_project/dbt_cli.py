"""`hub-dbt`: dbt's own command line, dying with its parent, whose partial parse survives a new
data folder.

dbt re-parses the whole project (about 6 CPU-seconds) when the connection details in the profile
change, and `dbt/profiles.yml` names the data folder's files (HUB_WORK_DB, HUB_MARTS_DB,
HUB_DUCKDB_TEMP_DIR). Nothing dbt parses depends on those paths (the catalog is named after the
file, `warehouse`, wherever it is), so here they are hashed by name rather than by value: a data
folder seeded with another folder's `partial_parse.msgpack` (dbt_runner.seed_partial_parse)
parses only what changed. Any other change of the profile (memory limit, threads, schema, a
file named otherwise) still makes dbt parse everything. If dbt's internals differ from what this
expects, it runs as plain dbt. Plain Python: no Dagster imports.
"""

from __future__ import annotations

import os
import pprint
import signal

from dagster_project.children import die_with_parent

# the profile's values that name the data folder (dbt/profiles.yml, dbt_runner.dbt_variables)
PATH_VARS = ("HUB_WORK_DB", "HUB_MARTS_DB", "HUB_DUCKDB_TEMP_DIR")


def profile_text(connection_info, environ=os.environ) -> str:
    """What dbt hashes of the profile (its sorted connection details, pretty-printed), with the
    data folder's paths replaced by the names of the variables holding them (before printing:
    pprint wraps lines by length)."""
    names = {environ[var]: f"${var}" for var in PATH_VARS if environ.get(var)}
    return pprint.pformat(sorted(_by_name(list(connection_info), names)))


def _by_name(value, names: dict[str, str]):
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {key: _by_name(item, names) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_by_name(item, names) for item in value)
    return value


def hash_paths_by_name() -> None:
    """Make dbt hash the profile's data-folder paths by name (once per process)."""
    try:
        from dbt.contracts.files import FileHash
        from dbt.parser.manifest import ManifestLoader
    except ImportError:  # another dbt: plain dbt
        return
    original = getattr(ManifestLoader, "build_manifest_state_check", None)
    if original is None or getattr(original, "hub_by_name", False):
        return

    def build_manifest_state_check(self):
        check = original(self)
        check.profile_hash = FileHash.from_contents(
            profile_text(self.root_project.credentials.connection_info()))
        return check

    build_manifest_state_check.hub_by_name = True
    ManifestLoader.build_manifest_state_check = build_manifest_state_check


def main() -> None:
    """`hub-dbt`: first made to die with the process that started it (a killed parent never
    leaves a dbt writing a warehouse), then dbt's command line, in this process, which ends
    without Python's teardown of dbt's modules (dagster_project/process_exit.py)."""
    from dagster_project.process_exit import run_and_end

    die_with_parent(signal.SIGKILL, os.getppid())
    hash_paths_by_name()
    from dbt.cli.main import cli

    run_and_end(cli)


if __name__ == "__main__":
    main()
