"""The warehouse resource: every path the assets need, from the environment with defaults."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dagster as dg

from dagster_project import dbt_in_process
from dagster_project.partners import PartnerConfig, load_partners
from dagster_project.settings import Settings
from dagster_project.writer_lock import writer_lock


def env_or_default(name: str, default: str) -> str | dg.EnvVar:
    """`dg.EnvVar(name)` when the variable is set, else the default (Dagster has no defaults)."""
    return dg.EnvVar(name) if os.environ.get(name) else default


class WarehouseResource(dg.ConfigurableResource):
    """Locations of the landing folder, partner configs and the DuckDB files."""

    landing_dir: str
    work_db: str
    serving_db: str
    operations_db: str
    partners_dir: str
    home: str

    @classmethod
    def from_env(cls) -> WarehouseResource:
        s = Settings.from_env()
        return cls(
            landing_dir=env_or_default("HUB_LANDING_DIR", str(s.landing_dir)),
            work_db=env_or_default("HUB_WORK_DB", str(s.work_db)),
            serving_db=env_or_default("HUB_SERVING_DB", str(s.serving_db)),
            operations_db=env_or_default("HUB_OPERATIONS_DB", str(s.operations_db)),
            partners_dir=env_or_default("HUB_PARTNERS_DIR", str(s.partners_dir)),
            home=env_or_default("HUB_HOME", str(s.home)),
        )

    @classmethod
    def from_settings(cls, s: Settings) -> WarehouseResource:
        return cls(landing_dir=str(s.landing_dir), work_db=str(s.work_db),
                   serving_db=str(s.serving_db), operations_db=str(s.operations_db),
                   partners_dir=str(s.partners_dir),
                   home=str(s.home))

    def settings(self) -> Settings:
        base = Settings.from_env()
        return Settings(
            home=Path(self.home), data_dir=base.data_dir, landing_dir=Path(self.landing_dir),
            work_db=Path(self.work_db), serving_db=Path(self.serving_db),
            operations_db=Path(self.operations_db),
            partners_dir=Path(self.partners_dir), dagster_home=base.dagster_home)

    def partners(self) -> dict[str, PartnerConfig]:
        s = self.settings()
        return load_partners(s.partners_dir, s.reference_dir)


class WriterLockResource(dg.ConfigurableResource):
    """The working warehouse's writer lock (dagster_project/writer_lock.py), held from the start
    to the end of a run of the build job (one process: the job runs in-process), so a run of
    the landing sensor or the monthly schedule waits for `hub build` and the other way round.
    In `hub build` the process already holds it: taking it again does not wait."""

    work_db: str

    @classmethod
    def from_env(cls) -> WriterLockResource:
        return cls(work_db=env_or_default("HUB_WORK_DB", str(Settings.from_env().work_db)))

    @classmethod
    def from_settings(cls, s: Settings) -> WriterLockResource:
        return cls(work_db=str(s.work_db))

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        run = context.run
        tags = run.tags if run else {}
        who = (tags.get("hub/trigger") or tags.get("dagster/sensor_name")
               or tags.get("dagster/schedule_name") or "a Dagster run")

        def on_wait(message: str) -> None:
            if context.log:
                context.log.warning(f"{message}: this run starts when it ends")

        with writer_lock(Path(self.work_db), who, run_id=run.run_id if run else None,
                         on_wait=on_wait):
            try:
                yield self
            finally:
                # A run interrupted while dbt builds (the Dagster UI's Terminate) may leave dbt
                # running in its thread: Dagster can raise the interrupt outside the dbt step's
                # generator, which then never learns of it. Stopped here, before the lock is
                # released, dbt never writes beside the next build.
                if not dbt_in_process.stop_running() and context.log:
                    context.log.error("dbt did not stop within "
                                      f"{dbt_in_process.STOP_SECONDS} s of the run's end")
