"""`generate_sample`: simulate every generator partner and write its landing files.

Also copies the real fixture tree `seeds/realdata/<code>/<source>/*` (PhoneNow) into the landing
folder, so one call prepares a complete landing area.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import multiprocessing
import os
import shutil
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from dagster_project.stop_request import raise_if_interrupted, signals_held

from .closures import BankHolidays, bank_holidays_path, day_windows, load_bank_holidays
from .crm import ContactTable, population_areas, simulate_contacts
from .crm_dirt import (
    KPI_KINDS,
    QUARANTINE_KINDS,
    add_kpi_dirt,
    plan_quarantine_dirt,
    quarantine_counts,
)
from .crm_spec import CrmPartner, load_crm_partner
from .crm_writers import CrmFileJob, file_jobs
from .customers import Population, build_population
from .direct_dial import split_direct_dials, write_direct_dial_files
from .dirt import KINDS, DirtPlan, DirtyRow, plan_dirt
from .local_time import DAY
from .service_standards import write_service_standard_files
from .simulation import DIRECT_DIAL, CallTable, simulate_partner, stable_code_hash
from .spec import PartnerSpec, load_partner_specs
from .writers import csv_columns, daily_sequence, period_file_name, write_csv, write_xlsx

EPOCH_DATE = dt.date(1970, 1, 1)
MAX_WORKERS = 4
# months x scale up to which the files are written in this process (_default_workers)
SMALL_SCALE_MONTHS = 1.0
MAX_PENDING_ROWS = 4_000_000  # rows handed to writer processes and not yet written


@dataclass(frozen=True)
class PartnerOutput:
    partner_code: str
    source: str
    files: int
    rows: int
    origin: str  # "simulated" or "copied" (real fixture)
    dirt: tuple[tuple[str, int], ...] = ()  # (kind, dirty rows written) for simulated files
    kpi_dirt: tuple[tuple[str, int], ...] = ()  # CRM: (kind, rows) of dirt kept in the data


@dataclass
class GenerateReport:
    landing_dir: Path
    first_month: dt.date
    last_month: dt.date
    seed: int
    scale: float
    partners: list[PartnerOutput] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(p.rows for p in self.partners)

    @property
    def total_files(self) -> int:
        return sum(p.files for p in self.partners)

    def rows_by_partner(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for p in self.partners:
            totals[p.partner_code] = totals.get(p.partner_code, 0) + p.rows
        return totals

    def dirt_by_kind(self) -> dict[str, int]:
        """Dirty rows written (see `dirt`), by the quarantine reason they should get."""
        return self._dirt("telephony", KINDS, "dirt")

    def crm_dirt_by_kind(self) -> dict[str, int]:
        """CRM rows written for the quarantine (or rejected), by reason (see `crm_dirt`)."""
        return self._dirt("crm", QUARANTINE_KINDS, "dirt")

    def crm_kpi_dirt_by_kind(self) -> dict[str, int]:
        """CRM dirt that stays in the data (duplicate cases, name variants, invalid values)."""
        return self._dirt("crm", KPI_KINDS, "kpi_dirt")

    def _dirt(self, source: str, kinds: tuple[str, ...], attribute: str) -> dict[str, int]:
        totals = dict.fromkeys(kinds, 0)
        for p in self.partners:
            if p.source == source:
                for kind, rows in getattr(p, attribute):
                    totals[kind] += rows
        return totals

    def summary(self) -> str:
        lines = [
            f"Sample landing data in {self.landing_dir} "
            f"({self.first_month:%Y-%m}..{self.last_month:%Y-%m}, seed {self.seed}, "
            f"scale {self.scale:g})",
        ]
        width = max([len(p.partner_code) for p in self.partners] + [7])
        for p in self.partners:
            lines.append(
                f"  {p.partner_code:<{width}}  {p.source:<9}  {p.files:>5} files  "
                f"{p.rows:>10,} rows  {p.origin}"
            )
        lines.append(
            f"  {'total':<{width}}  {'':<9}  {self.total_files:>5} files  "
            f"{self.total_rows:>10,} rows  in {self.seconds:.1f} s"
        )
        dirt = self.dirt_by_kind()
        if any(dirt.values()):
            lines.append(
                f"  dirty rows ({sum(dirt.values()):,}, for the quarantine): "
                + ", ".join(f"{kind} {rows:,}" for kind, rows in dirt.items())
            )
        crm = self.crm_dirt_by_kind()
        if any(crm.values()):
            lines.append(
                f"  dirty CRM rows ({sum(crm.values()):,}, for the quarantine): "
                + ", ".join(f"{kind} {rows:,}" for kind, rows in crm.items() if rows)
            )
        kept = self.crm_kpi_dirt_by_kind()
        if any(kept.values()):
            lines.append(
                "  CRM dirt kept in the data: "
                + ", ".join(f"{kind} {rows:,}" for kind, rows in kept.items())
            )
        return "\n".join(lines)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _default_end_month(today: dt.date | None = None) -> dt.date:
    return _add_months(_month_start(today or dt.date.today()), -1)


@dataclass(frozen=True)
class FileJob:
    """One landing file to write: a slice of a partner's calls (picklable for workers)."""

    path: Path
    spec: PartnerSpec
    calls: CallTable
    sequence: np.ndarray  # position of each call within its local day (call id suffix)
    saved_at: dt.datetime  # workbook timestamp (xlsx)
    dirt: tuple[DirtyRow, ...] = ()  # the file's dirty rows (row = index into `calls`)


def write_files(jobs: list[FileJob] | list[CrmFileJob]) -> int:
    """Write the jobs' files; returns rows written. Runs in a worker process or inline."""
    rows = 0
    for job in jobs:
        if isinstance(job, CrmFileJob):
            rows += job.write()
            continue
        telephony = job.spec.telephony
        assert telephony is not None
        if telephony.file_type == "xlsx":
            write_xlsx(job.path, job.spec, job.calls, job.sequence, job.saved_at, job.dirt)
        else:
            columns = csv_columns(job.spec, job.calls, job.sequence, job.dirt)
            write_csv(job.path, telephony, columns)
        rows += len(job.calls) + sum(d.inserts_row for d in job.dirt)
    return rows


def _file_jobs(
    spec: PartnerSpec,
    calls: CallTable,
    landing_dir: Path,
    periods: list[dt.date],
    dirt: DirtPlan | None = None,
) -> list[list[FileJob]]:
    """Jobs per month: one file per month, or per day for `file_grain: day` (header-only
    when a day has no calls), grouped by month so each batch is worth a worker round trip."""
    telephony, settings = spec.telephony, spec.generator
    assert telephony is not None and settings is not None
    folder = landing_dir / spec.code / "telephony"
    sequence = daily_sequence(calls.local_seconds)
    daily = settings.file_grain == "day"
    batches: dict[tuple[int, int], list[FileJob]] = {}
    for start in periods:
        end = start + dt.timedelta(days=1) if daily else _add_months(start, 1)
        lo, hi = np.searchsorted(
            calls.local_seconds, [(start - EPOCH_DATE).days * DAY, (end - EPOCH_DATE).days * DAY]
        )
        index = np.arange(lo, hi)
        name = period_file_name(
            telephony, spec.code, start.year, start.month, start.day if daily else None
        )
        job = FileJob(
            path=folder / name,
            spec=spec,
            calls=calls.take(index),
            sequence=sequence[index],
            saved_at=dt.datetime.combine(end, dt.time(6, 0)),
            dirt=dirt.slice(int(lo), int(hi)) if dirt is not None else (),
        )
        batches.setdefault((start.year, start.month), []).append(job)
    return list(batches.values())


def _count_rows(path: Path, spec: PartnerSpec | None, source: str) -> int:
    """Data rows of a copied fixture file (csv per the partner's format; xlsx sheet rows)."""
    fmt = spec.telephony if spec is not None and source == "telephony" else None
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        sheet = workbook[fmt.sheet] if fmt and fmt.sheet else workbook.worksheets[0]
        rows = max((sheet.max_row or 1) - 1, 0)
        workbook.close()
        return rows
    encoding = fmt.encoding if fmt else "utf-8"
    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text), delimiter=fmt.delimiter if fmt else ",")
    return max(sum(1 for _ in reader) - 1, 0)


def copy_real_data(
    partners_dir: Path, landing_dir: Path, specs: list[PartnerSpec]
) -> list[PartnerOutput]:
    """Copy `<partners_dir>/../realdata/<code>/<source>/*` to `landing_dir/<code>/<source>/`."""
    realdata = partners_dir.parent / "realdata"
    by_code = {spec.code: spec for spec in specs}
    outputs = []
    for code in sorted(by_code):
        for source_dir in sorted(p for p in (realdata / code).glob("*") if p.is_dir()):
            files = sorted(p for p in source_dir.iterdir() if p.is_file())
            target = landing_dir / code / source_dir.name
            target.mkdir(parents=True, exist_ok=True)
            rows = 0
            for path in files:
                temporary = target / f".{path.name}.tmp"
                shutil.copyfile(path, temporary)
                os.replace(temporary, target / path.name)  # never half a file in landing
                rows += _count_rows(path, by_code[code], source_dir.name)
            if files:
                outputs.append(PartnerOutput(code, source_dir.name, len(files), rows, "copied"))
    return outputs


def _default_workers(months: int, scale: float) -> int:
    """Every core up to MAX_WORKERS; one (this process) for at most a month's rows at scale 1
    (about 190,000), which a worker process would cost more to start (about 0.6 CPU-seconds
    each, importing the writers) than it saves: 1.4 CPU-seconds instead of 2.5 for 4 months
    at scale 0.15, the test suite's sample."""
    if months * scale <= SMALL_SCALE_MONTHS:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def _simulation_order(spec: PartnerSpec) -> tuple[int, float]:
    """xlsx partners first (slowest to write), then by volume, so workers stay busy."""
    assert spec.telephony is not None and spec.generator is not None
    return (spec.telephony.file_type != "xlsx", -spec.generator.base_calls_per_weekday)


def generate_sample(
    landing_dir: Path,
    partners_dir: Path,
    months: int = 24,
    seed: int = 42,
    scale: float = 1.0,
    end_month: dt.date | None = None,
    *,
    workers: int | None = None,
    with_dirt: bool = True,
) -> GenerateReport:
    """Simulate `months` months ending with `end_month` for every partner with a `generator`.

    `end_month` is the first day of the last month (default: the month before today).
    Deterministic in (seed, months, scale, end_month, partner YAMLs), whatever `workers` is.
    About one row in 5,000 is written dirty, for the warehouse's quarantine (see `dirt`); CRM
    files (partners with `sources.crm`, see `crm`) about one row in 2,000 (`crm_dirt`).
    `with_dirt=False` writes no quarantine dirt (CRM dirt that belongs in the KPIs stays).
    Files are (re)written in `landing_dir/<code>/telephony/`; other files there are left alone.
    Simulation runs in this process; files are written by `workers` processes (default: CPU
    count, at most 4, but 1 for at most a month at scale 1; 1 = everything in this process).
    Memory is bounded by the largest partner, one population of residents (their personal
    fields stored as bytes) and one month of CRM text (formatted and written a month at a
    time): partners sharing a `generator.crm.population` are generated together and their
    population dropped before the next group's is built (without that key every partner shares
    one population, as the sample's six do).
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    if not scale > 0:
        raise ValueError("scale must be positive")
    clock = time.perf_counter()
    landing_dir, partners_dir = Path(landing_dir), Path(partners_dir)
    last_month = _month_start(end_month) if end_month else _default_end_month()
    first_month = _add_months(last_month, -(months - 1))
    last_day = _add_months(last_month, 1) - dt.timedelta(days=1)
    holidays = load_bank_holidays(bank_holidays_path(partners_dir))
    holidays.check_covers(first_month, last_day)

    day_numbers = np.arange((first_month - EPOCH_DATE).days, (last_day - EPOCH_DATE).days + 1)
    specs = load_partner_specs(partners_dir)
    simulated = sorted((s for s in specs if s.generator is not None), key=_simulation_order)
    dirt_index = {code: i for i, code in enumerate(sorted(s.code for s in simulated))}
    report = GenerateReport(landing_dir, first_month, last_month, seed, scale)
    outputs: dict[str, PartnerOutput] = {}
    crm_outputs: dict[str, PartnerOutput] = {}
    service_outputs: list[PartnerOutput] = []  # voicemail, reception, web (service_standards)
    crm = _Crm(simulated, day_numbers, holidays, first_month, months, seed, scale, landing_dir)
    crm.with_dirt = with_dirt
    # one population group after another (a stable sort: one group keeps the order above)
    simulated.sort(key=lambda spec: crm.group(spec.code))
    with _Writer(workers or _default_workers(months, scale)) as writer:
        for spec in simulated:
            assert spec.generator is not None
            calls = simulate_partner(spec, day_numbers, holidays, seed=seed, scale=scale)
            if spec.generator.direct_dial_extract:
                # the direct dials go to the separate extract, not the telephony files
                calls, direct = split_direct_dials(calls, DIRECT_DIAL)
                files, rows = write_direct_dial_files(
                    spec.path, direct, landing_dir, crm.month_starts, crm.run_end, seed,
                    with_dirt=with_dirt)
                service_outputs.append(
                    PartnerOutput(spec.code, "direct_dial", files, rows, "simulated"))
            if spec.generator.file_grain == "day":
                periods = [EPOCH_DATE + dt.timedelta(days=int(d)) for d in day_numbers]
            else:
                periods = [_add_months(first_month, i) for i in range(months)]
            dirt = (
                plan_dirt(spec, calls, seed=seed, partner_index=dirt_index[spec.code])
                if with_dirt
                else DirtPlan()
            )
            batches = _file_jobs(spec, calls, landing_dir, periods, dirt)
            for batch in batches:
                writer.submit(batch)
            files = sum(len(batch) for batch in batches)
            outputs[spec.code] = PartnerOutput(
                spec.code,
                "telephony",
                files,
                len(calls) + dirt.inserted,
                "simulated",
                tuple(dirt.counts().items()),
            )
            crm_output = crm.generate(spec, calls)
            if crm_output is not None:
                crm_outputs[spec.code] = crm_output
            contacts, service_names = crm.contacts.pop(spec.code, (None, ()))
            written = write_service_standard_files(
                spec.path, calls, contacts, service_names, landing_dir, crm.month_starts,
                crm.run_end, seed, with_dirt=with_dirt,
            ).written
            service_outputs.extend(
                PartnerOutput(spec.code, source, files, rows, "simulated")
                for source, (files, rows) in written.items()
            )
    report.partners.extend(outputs[code] for code in sorted(outputs))
    report.partners.extend(crm_outputs[code] for code in sorted(crm_outputs))
    report.partners.extend(sorted(service_outputs, key=lambda o: (o.partner_code, o.source)))
    report.partners.extend(copy_real_data(partners_dir, landing_dir, specs))
    report.seconds = time.perf_counter() - clock
    return report


class _Writer:
    """Runs `write_files` batches in a process pool, or inline with one worker.

    The simulation waits only when more than `MAX_PENDING_ROWS` rows are queued for writing,
    so it keeps simulating the next partner while workers write (memory stays bounded).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.pending: deque[tuple[Future[int], int]] = deque()
        self.pending_rows = 0

    def __enter__(self) -> _Writer:
        if self.workers > 1:
            context = multiprocessing.get_context("spawn")  # safe inside threaded hosts
            try:
                self.pool = ProcessPoolExecutor(self.workers, mp_context=context)
            except (OSError, NotImplementedError):  # no process support: write inline
                self.pool = None
        return self

    def submit(self, batch: list[FileJob] | list[CrmFileJob]) -> None:
        # SIGTERM or Ctrl-C whose KeyboardInterrupt numpy lost (raised within its string
        # operations, it is dropped): no more files once the command was asked to stop
        raise_if_interrupted()
        if self.pool is None:
            write_files(batch)
            return
        rows = sum(job.rows if isinstance(job, CrmFileJob) else len(job.calls) for job in batch)
        while self.pending and self.pending_rows + rows > MAX_PENDING_ROWS:
            self._wait_oldest()
        self.pending.append((self.pool.submit(write_files, batch), rows))
        self.pending_rows += rows

    def _wait_oldest(self) -> None:
        future, rows = self.pending.popleft()
        self.pending_rows -= rows
        future.result()

    def __exit__(self, *exc_info: object) -> None:
        if self.pool is None:
            return
        failed = exc_info[0] is not None
        try:
            while self.pending and not failed:
                self._wait_oldest()
        finally:
            # the workers finish the batches they write (whole files), then stop; a second
            # SIGTERM or Ctrl-C meanwhile acts once they have: had it broken this wait, the
            # caller would go on (`hub bench` removing its folder) while they still wrote
            with signals_held():
                self.pool.shutdown(wait=True, cancel_futures=True)


class _Crm:
    """CRM files of every generator partner with `sources.crm` (see `crm`): each population
    (one per `generator.crm.population` group, by default one for everyone) is built when its
    first partner is generated and dropped when the next group starts, so the generator holds
    one group's residents at a time; each partner's contacts follow its simulated calls."""

    def __init__(
        self,
        specs: list[PartnerSpec],
        day_numbers: np.ndarray,
        holidays: BankHolidays,
        first_month: dt.date,
        months: int,
        seed: int,
        scale: float,
        landing_dir: Path,
    ) -> None:
        loaded = [(spec, load_crm_partner(spec.path)) for spec in specs]
        partners = sorted(((s, p) for s, p in loaded if p is not None), key=lambda sp: sp[0].code)
        self.partners: dict[str, CrmPartner] = {s.code: p for s, p in partners}
        self.index = {code: i for i, code in enumerate(sorted(self.partners))}
        self.groups: dict[str, list[tuple[PartnerSpec, CrmPartner]]] = {}
        for s, p in partners:
            self.groups.setdefault(p.settings.population, []).append((s, p))
        self.scale, self.months = scale, months
        self.population: Population | None = None
        self.population_group: str | None = None
        self.day_numbers = day_numbers
        self.holidays = holidays
        self.holiday_days = np.array(sorted(holidays.dates), dtype="datetime64[D]")
        self.month_starts = [
            (m.year, m.month, (m - EPOCH_DATE).days * DAY)
            for m in (_add_months(first_month, i) for i in range(months))
        ]
        self.run_end = (int(day_numbers[-1]) + 1) * DAY
        self.seed = seed
        self.landing_dir = landing_dir
        self.with_dirt = True
        # code -> (contacts, service names) of the partner just generated, for the
        # service-standard files (service_standards.py), taken once written
        self.contacts: dict[str, tuple[ContactTable, tuple[str, ...]]] = {}

    def group(self, code: str) -> str:
        """The partner's population group ("" without one, or without a CRM)."""
        partner = self.partners.get(code)
        return partner.settings.population if partner is not None else ""

    def _population(self, group: str) -> Population:
        if self.population is None or self.population_group != group:
            self.population = None  # never two groups' residents at once
            areas = population_areas(self.groups[group], self.scale, self.months)
            stream = stable_code_hash(group) if group else None
            self.population = build_population(areas, seed=self.seed, stream=stream)
            self.population_group = group
        return self.population

    def generate(self, spec: PartnerSpec, calls: CallTable) -> PartnerOutput | None:
        partner = self.partners.get(spec.code)
        if partner is None:
            return None
        population = self._population(partner.settings.population)
        zone = ZoneInfo(spec.timezone)
        windows = day_windows(spec, self.day_numbers.astype("datetime64[D]"), self.holidays)
        table, service_names = simulate_contacts(
            spec, partner, calls, population, self.day_numbers, windows,
            self.holiday_days, seed=self.seed,
        )  # fmt: skip
        table, kept = add_kpi_dirt(table, seed=self.seed, code=spec.code, end=self.run_end)
        self.contacts[spec.code] = (table, tuple(service_names))
        dirt = (
            plan_quarantine_dirt(
                len(table), partner.crm, seed=self.seed, code=spec.code,
                partner_index=self.index[spec.code],
            )
            if self.with_dirt
            else ()
        )  # fmt: skip
        jobs = file_jobs(
            partner, table, service_names, population, dirt, self.landing_dir,
            self.month_starts, self.run_end, zone,
        )  # fmt: skip
        files = rows = 0
        for job in jobs:  # written here: pickling the text for a worker costs as much
            rows += job.write()
            files += 1
        return PartnerOutput(
            spec.code, "crm", files, rows, "simulated",
            tuple(quarantine_counts(dirt).items()), tuple(kept.items()),
        )  # fmt: skip
