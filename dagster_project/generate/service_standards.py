"""Sample voicemail, reception and web files (docs/architecture.md, "Service-standard
sources"), consistent with each partner's simulated calls and CRM contacts:

- voicemail: a share of the partner's calls (answered, abandoned or ended in the IVR) leave a
  message when their wait ends, in the call's queue (the mailbox); most are responded to
  within hours, some late, a few never;
- reception: one ticket per face-to-face CRM contact, called to the desk when the contact is
  logged after a queue wait (`reception_mean_wait_minutes`), plus walk-outs (tickets never
  called) in proportion (`walkout_share`), in the contact's service;
- web: one row per day and page (a page per CRM service), visits in proportion to the month's
  web contacts (`web_visits_per_contact`), a few rated, some poor (`poor_rating_share`).

Files are monthly, in the partner's declared format for each source (`sources.<source>`: CSV
with its delimiter and encoding, JSON lines, or an xlsx workbook), named from
`period_pattern`. Parameters: `generator.service_standards` of the partner YAML. With dirt,
one row in about 400 (one at least in a file of 100 rows or more) is written to
be quarantined (a missing id, a response before the
message, a visit count that is not a number).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from dagster_project.partners import SERVICE_STANDARD_SOURCES, SourceConfig, load_partner

from .crm import ContactTable
from .crm_spec import CHANNELS
from .crm_writers import write_jsonl
from .local_time import DAY, local_to_utc
from .simulation import CallTable, stable_code_hash
from .spec import OUTCOMES
from .writers import format_timestamps, period_file_name, write_csv, write_workbook

TAG = 0x5E57
DIRT_EVERY = 400
DIRT_MIN_ROWS = 100  # a smaller file gets no dirt (one dirty row would be over 1 %)
DEFAULTS = {
    "voicemail_share": 0.03,  # of calls (answered, abandoned, IVR only)
    "response_mean_hours": 5.0,
    "late_response_share": 0.1,  # responded 1-4 days later
    "unanswered_share": 0.01,
    "reception_mean_wait_minutes": 9.0,
    "walkout_share": 0.05,  # walk-outs per served ticket
    "web_visits_per_contact": 30.0,
    "rated_share": 0.01,  # visits that leave a rating
    "poor_rating_share": 0.04,
}


@dataclass(frozen=True)
class _Format:
    """A source's file layout, shaped as the CSV/JSON writers and period_file_name expect."""

    columns: tuple[tuple[str, str], ...]
    encoding: str
    delimiter: str
    file_type: str
    period_pattern: str | None
    files_glob: str
    sheet: str | None


def _format(cfg: SourceConfig) -> _Format:
    columns = tuple((name, spec.header) for name, spec in cfg.columns.items()
                    if spec.header is not None)
    return _Format(columns, cfg.encoding, cfg.delimiter, cfg.file_type,
                   cfg.period_pattern.pattern if cfg.period_pattern else None, cfg.files,
                   cfg.sheet)


def _stamps(seconds: np.ndarray, cfg: SourceConfig, zone: ZoneInfo) -> list[str | None]:
    """Timestamps of naive local epoch seconds (-1: empty), as the partner writes them."""
    out: list[str | None] = [None] * len(seconds)
    given = np.flatnonzero(seconds >= 0)
    if len(given):
        values = seconds[given]
        if cfg.timestamp_zone == "utc":
            values = local_to_utc(values, zone)
        text = format_timestamps(values.astype(np.int64), cfg.timestamp_format)
        for i, t in zip(given.tolist(), text.tolist(), strict=True):
            out[i] = t
    return out


def _write_xlsx(path: Path, fmt: _Format, columns: dict[str, list], creator: str,
                saved_at: dt.datetime) -> None:
    write_workbook(path, fmt.sheet, [header for _, header in fmt.columns],
                   list(zip(*(columns[name] for name, _ in fmt.columns), strict=True)),
                   creator, saved_at)


def _write(path: Path, fmt: _Format, columns: dict[str, list], creator: str,
           saved_at: dt.datetime) -> None:
    if fmt.file_type == "jsonl":
        write_jsonl(path, fmt, columns, [False] * len(next(iter(columns.values()), [])))
    elif fmt.file_type == "xlsx":
        _write_xlsx(path, fmt, columns, creator, saved_at)
    else:
        write_csv(path, fmt, [columns[name] for name, _ in fmt.columns])  # type: ignore[arg-type]


@dataclass
class ServiceStandardFiles:
    """What was written per source: (files, rows)."""

    written: dict[str, tuple[int, int]]


class _Partner:
    def __init__(self, path: Path, seed: int, with_dirt: bool) -> None:
        self.config = load_partner(path)
        self.zone = ZoneInfo(self.config.timezone)
        params = dict(self.config.generator.get("service_standards") or {})
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"{path.name}: generator.service_standards: unknown "
                             f"key(s) {sorted(unknown)} (known: {', '.join(DEFAULTS)})")
        self.params = {**DEFAULTS, **{k: float(v) for k, v in params.items()}}
        self.rng = np.random.default_rng([seed, TAG, stable_code_hash(self.config.code)])
        self.with_dirt = with_dirt

    def dirt_rows(self, n: int) -> np.ndarray:
        """The rows of a file of n written dirty: one in DIRT_EVERY, from the middle."""
        if not self.with_dirt or n < DIRT_MIN_ROWS:
            return np.array([], dtype=np.int64)
        return np.arange(n // 2, n, DIRT_EVERY)


def _voicemails(p: _Partner, calls: CallTable) -> dict[str, np.ndarray]:
    outcomes = [OUTCOMES.index(o) for o in ("answered", "abandoned", "ivr_only")]
    callers = np.flatnonzero(np.isin(calls.outcome, outcomes))
    keep = callers[p.rng.random(len(callers)) < p.params["voicemail_share"]]
    left = calls.local_seconds[keep] + np.maximum(calls.wait[keep], 0)
    hours = p.rng.exponential(p.params["response_mean_hours"], len(keep))
    late = p.rng.random(len(keep)) < p.params["late_response_share"]
    hours = hours + late * p.rng.uniform(24, 96, len(keep))
    responded = left + (hours * 3600).astype(np.int64) + 60
    responded[p.rng.random(len(keep)) < p.params["unanswered_share"]] = -1
    order = np.argsort(left, kind="stable")
    return {"at": left[order], "responded": responded[order],
            "service": calls.queue[keep][order], "names": np.array(calls.queue_names)}


def _tickets(p: _Partner, contacts: ContactTable, service_names: tuple[str, ...]):
    f2f = np.flatnonzero(contacts.channel == CHANNELS.index("face_to_face"))
    called = contacts.created[f2f]
    wait = (p.rng.exponential(p.params["reception_mean_wait_minutes"], len(f2f)) * 60)
    issued = called - wait.astype(np.int64) - 30
    finished = called + (p.rng.exponential(8, len(f2f)) * 60).astype(np.int64) + 120
    walkouts = p.rng.choice(len(f2f), int(len(f2f) * p.params["walkout_share"])) \
        if len(f2f) else np.array([], dtype=np.int64)
    w_issued = issued[walkouts] - (p.rng.uniform(0, 3600, len(walkouts))).astype(np.int64)
    w_left = w_issued + (p.rng.uniform(5, 45, len(walkouts)) * 60).astype(np.int64)
    at = np.concatenate([issued, w_issued])
    order = np.argsort(at, kind="stable")
    return {"at": at[order],
            "called": np.concatenate([called, np.full(len(walkouts), -1)])[order],
            "finished": np.concatenate([finished, w_left])[order],
            "service": np.concatenate([contacts.service[f2f],
                                       contacts.service[f2f][walkouts]])[order],
            "names": np.array(service_names, dtype=object)}


def _web_days(p: _Partner, contacts: ContactTable, service_names: tuple[str, ...],
              first_day: int, last_day: int):
    web = contacts.created[contacts.channel == CHANNELS.index("web")] // DAY
    days = np.arange(first_day, last_day + 1)
    per_day = np.bincount(web - first_day, minlength=len(days))[: len(days)]
    # visits follow the month's web contacts (smoothed), fewer at weekends
    month = np.array([(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))).strftime("%Y%m")
                      for d in days])
    mean = np.zeros(len(days))
    for m in np.unique(month):
        mean[month == m] = per_day[month == m].mean()
    weekend = ((days + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    expected = mean * p.params["web_visits_per_contact"] * np.where(weekend, 0.6, 1.15)
    pages = len(service_names)
    weights = p.rng.dirichlet(np.full(pages, 3.0))
    rows = {"day": [], "page": [], "visits": [], "good": [], "neutral": [], "poor": []}
    for day, total in zip(days.tolist(), p.rng.poisson(expected).tolist(), strict=True):
        for page, visits in enumerate(p.rng.multinomial(total, weights).tolist()):
            rated = p.rng.binomial(visits, p.params["rated_share"])
            poor = p.rng.binomial(rated, p.params["poor_rating_share"])
            neutral = p.rng.binomial(rated - poor, 0.2)
            for key, value in zip(rows, (day * DAY, page, visits, rated - poor - neutral,
                                         neutral, poor), strict=True):
                rows[key].append(value)
    return {k: np.array(v, dtype=np.int64) for k, v in rows.items()} | {
        "names": np.array(service_names, dtype=object)}


def _page_path(name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"/services/{slug}"


def _month_slices(at: np.ndarray, month_starts: list[tuple[int, int, int]], run_end: int):
    edges = np.searchsorted(at, [s for _, _, s in month_starts] + [run_end])
    for i, (year, month, _) in enumerate(month_starts):
        yield year, month, int(edges[i]), int(edges[i + 1])


def write_service_standard_files(
    path: Path, calls: CallTable, contacts: ContactTable | None,
    service_names: tuple[str, ...], landing_dir: Path,
    month_starts: list[tuple[int, int, int]], run_end: int, seed: int, with_dirt: bool = True,
) -> ServiceStandardFiles:
    """Write the partner's voicemail, reception and web files (the sources its YAML declares;
    reception and web need its CRM contacts)."""
    p = _Partner(path, seed, with_dirt)
    code = p.config.code
    written: dict[str, tuple[int, int]] = {}
    for source in SERVICE_STANDARD_SOURCES:
        cfg = p.config.sources.get(source)
        if cfg is None or (source != "voicemail" and contacts is None):
            continue
        fmt = _format(cfg)
        if source == "voicemail":
            data = _voicemails(p, calls)
        elif source == "reception":
            data = _tickets(p, contacts, service_names)
        else:
            first_day = month_starts[0][2] // DAY
            data = _web_days(p, contacts, service_names, first_day, run_end // DAY - 1)
            data["at"] = data["day"]
        files = rows = 0
        for year, month, lo, hi in _month_slices(data["at"], month_starts, run_end):
            columns = _columns(p, source, cfg, data, lo, hi, year, month)
            name = period_file_name(fmt, code, year, month)  # type: ignore[arg-type]
            saved_at = dt.datetime(year + month // 12, month % 12 + 1, 1, 6)  # month end
            _write(landing_dir / code / source / name, fmt, columns, p.config.name, saved_at)
            files, rows = files + 1, rows + hi - lo
        written[source] = (files, rows)
    return ServiceStandardFiles(written)


def _columns(p: _Partner, source: str, cfg: SourceConfig, data: dict, lo: int, hi: int,
             year: int, month: int) -> dict[str, list]:
    """The month's rows as text per canonical field, dirt applied."""
    n = hi - lo
    names = data["names"]
    service = [str(names[i]) for i in data["service" if source != "web" else "page"][lo:hi]]
    ids = [f"{p.config.code[:2].upper()}{source[0].upper()}{year % 100:02d}{month:02d}"
           f"{i + 1:05d}" for i in range(n)]
    dirt = p.dirt_rows(n)
    if source == "voicemail":
        responded = data["responded"][lo:hi].copy()
        left = data["at"][lo:hi]
        columns = {"voicemail_id": ids, "left_at": _stamps(left, cfg, p.zone),
                   "responded_at": None, "service": service}
        responded[dirt] = np.where(left[dirt] > 7200, left[dirt] - 3600, responded[dirt])
        columns["responded_at"] = _stamps(responded, cfg, p.zone)  # dirt: before the message
    elif source == "reception":
        columns = {"ticket_id": ids,
                   "issued_at": _stamps(data["at"][lo:hi], cfg, p.zone),
                   "called_at": _stamps(data["called"][lo:hi], cfg, p.zone),
                   "finished_at": _stamps(data["finished"][lo:hi], cfg, p.zone),
                   "service": service}
        for i in dirt.tolist():  # a ticket without its id
            columns["ticket_id"][i] = None
    else:
        columns = {"visit_date": _stamps(data["day"][lo:hi], cfg, p.zone),
                   "page": [_page_path(s) for s in service], "service": service,
                   "visits": [str(v) for v in data["visits"][lo:hi].tolist()],
                   "ratings_good": [str(v) for v in data["good"][lo:hi].tolist()],
                   "ratings_neutral": [str(v) for v in data["neutral"][lo:hi].tolist()],
                   "ratings_poor": [str(v) for v in data["poor"][lo:hi].tolist()]}
        for i in dirt.tolist():  # a count that is not a number
            columns["visits"][i] = "n/a"
    return {name: columns[name] for name in cfg.columns if name in columns}
