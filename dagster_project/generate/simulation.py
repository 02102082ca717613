"""Queue simulation: arrivals, IVR / direct-dial routing and an FCFS multi-agent queue.

For one partner over a run of days:

1. arrivals are drawn from a non-homogeneous Poisson process (`demand.Demand.realised`, per
   15-minute bin and queue, uniform within the bin);
2. calls arriving while the partner is closed (evenings, weekends, bank holidays) hear the
   closed message (`ivr_only`); in hours a share self-serves in the IVR (`ivr_only`) and a share
   are direct-dial calls answered by staff outside the queue (`direct_dial`);
3. the remaining calls join one first-come-first-served queue served by the agents on shift
   (`staffing`), each caller with a patience: a caller whose wait would exceed it abandons and
   never occupies an agent. The reported wait includes a short ring / announcement time, so
   some callers abandon within seconds even when an agent is free;
4. a handful of `test` / `phantom` records per month are added where the partner has codes.

All times are local wall-clock seconds (see `local_time`).
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from . import demand as demand_model
from .closures import BankHolidays, DayWindows, day_windows
from .local_time import DAY, missing_bins
from .spec import OUTCOMES, PartnerSpec
from .staffing import HALF_HOURS_PER_DAY, agent_shifts, required_agents, staffing_rule

ANSWERED, ABANDONED, IVR_ONLY, DIRECT_DIAL, TEST, PHANTOM = range(len(OUTCOMES))
MISSING = -1  # duration not applicable (written as an empty field)

# Mean talk time by service line (seconds); lognormal around it.
TALK_MEAN_SECONDS = {
    "council_tax": 290, "benefits": 360, "waste": 240, "housing": 370, "planning": 330,
    "general": 200, "social_care": 400, "highways": 260, "education": 300, "parking": 250,
    "licensing": 300, "environment": 270,
}  # fmt: skip
DEFAULT_TALK_SECONDS = 290
TALK_SIGMA = 0.55
HOLD_SHARE, HOLD_MEAN, HOLD_SIGMA = 0.3, 55.0, 0.5
WRAP_SHAPE, WRAP_SCALE = 8.0, 7.0  # gamma: mean 56 s, mostly 30-90 s
RING_SECONDS = (1.0, 6.0)  # uniform ring / queue announcement before the agent picks up
SHORT_PATIENCE_SHARE, SHORT_PATIENCE_MAX = 0.025, 4.5  # callers who hang up almost at once
PATIENCE_SIGMA = 0.6
PATIENCE_MEAN_RANGE = (90.0, 120.0)  # seconds; mean patience drawn once per partner
DIRECT_DIAL_RING = 10  # direct-dial wait: 0..10 s ring
ABSENCE_MEAN, ABSENCE_SD = 0.97, 0.04  # share of rostered agents actually available
MAX_EXTRA_RECORDS = 3  # test / phantom records per month: 0..3 each


def stable_code_hash(code: str) -> int:
    """64-bit hash of a partner code, stable across processes (unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(code.encode("utf-8"), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class CallTable:
    """Simulated calls of one partner, sorted by arrival (local naive epoch seconds)."""

    local_seconds: np.ndarray  # int64
    queue: np.ndarray  # int16 index into queue_names
    outcome: np.ndarray  # int8 index into spec.OUTCOMES
    wait: np.ndarray  # int32 seconds, MISSING where not applicable
    talk: np.ndarray
    hold: np.ndarray
    wrap: np.ndarray
    queue_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.local_seconds)

    def take(self, index: np.ndarray) -> CallTable:
        return CallTable(
            self.local_seconds[index], self.queue[index], self.outcome[index],
            self.wait[index], self.talk[index], self.hold[index], self.wrap[index],
            self.queue_names,
        )  # fmt: skip


def fcfs_with_patience(
    arrivals: list[float],
    limits: list[float],
    service: list[float],
    shift_starts: list[float],
    shift_ends: list[float],
) -> tuple[list[float], list[bool]]:
    """First-come-first-served queue with abandonment, agents coming and going by shift.

    Each agent is (free_at, leaves_at) in a heap. A caller arriving at t is taken by the
    earliest-free agent still on shift at max(t, free_at); the delay is that minus t. If the
    delay exceeds the caller's limit (patience minus ring time) the caller abandons without
    using an agent. Returns per caller the queue delay and whether answered.
    """
    heap = sorted(zip(shift_starts, shift_ends, strict=True))
    heapify = heapq.heapify
    heapify(heap)
    heappop, heapreplace = heapq.heappop, heapq.heapreplace
    delays = [0.0] * len(arrivals)
    answered = [False] * len(arrivals)
    for i, t in enumerate(arrivals):
        while heap:
            free_at, leaves_at = heap[0]
            begin = free_at if free_at > t else t
            if begin < leaves_at:
                break
            heappop(heap)  # this agent's shift is over
        else:
            delays[i] = limits[i] + 1.0  # nobody left on shift: the caller gives up
            continue
        delay = begin - t
        if delay > limits[i]:
            delays[i] = delay
            continue
        delays[i] = delay
        answered[i] = True
        heapreplace(heap, (begin + service[i], leaves_at))
    return delays, answered


class _Streams:
    """Independent random streams per purpose, seeded from (seed, partner code)."""

    def __init__(self, seed: int, code: str) -> None:
        children = np.random.SeedSequence([seed, stable_code_hash(code)]).spawn(6)
        rngs = [np.random.default_rng(child) for child in children]
        self.demand, self.arrivals, self.routing, self.handling, self.staffing, self.extras = rngs


def _handling(
    rng: np.random.Generator, talk_means: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = np.log(talk_means) - TALK_SIGMA**2 / 2
    talk = np.clip(rng.lognormal(mu, TALK_SIGMA, size=count), 15, 3600)
    hold_mu = np.log(HOLD_MEAN) - HOLD_SIGMA**2 / 2
    held = rng.random(count) < HOLD_SHARE
    hold = np.where(held, np.clip(rng.lognormal(hold_mu, HOLD_SIGMA, size=count), 15, 600), 0)
    wrap = np.clip(rng.gamma(WRAP_SHAPE, WRAP_SCALE, size=count), 10, 300)
    return np.rint(talk), np.rint(hold), np.rint(wrap)


def _expected_handle(queue_weights: np.ndarray, talk_means: np.ndarray) -> float:
    return float(
        queue_weights @ talk_means
        + HOLD_SHARE * HOLD_MEAN
        + WRAP_SHAPE * WRAP_SCALE
        + sum(RING_SECONDS) / 2
    )


class _PartnerModel:
    """Everything fixed for a partner's run: demand, staffing plan inputs, random streams."""

    def __init__(
        self, spec: PartnerSpec, day_numbers: np.ndarray, holidays: BankHolidays, seed: int,
        scale: float,
    ) -> None:  # fmt: skip
        settings, telephony = spec.generator, spec.telephony
        if settings is None or telephony is None:
            raise ValueError(f"{spec.code}: no generator block")
        self.settings = settings
        self.day_numbers = day_numbers
        self.streams = _Streams(seed, spec.code)
        zone = ZoneInfo(spec.timezone)
        self.queue_names = tuple(settings.queue_weights)
        service_lines = [telephony.queues[name] for name in self.queue_names]
        weights = np.array([settings.queue_weights[name] for name in self.queue_names])
        self.talk_means = np.array(
            [TALK_MEAN_SECONDS.get(line, DEFAULT_TALK_SECONDS) for line in service_lines]
        )
        self.windows = day_windows(spec, day_numbers.astype("datetime64[D]"), holidays)
        weather = demand_model.weather_severity(seed, day_numbers)
        expected = demand_model.build_demand(
            base_calls_per_weekday=settings.base_calls_per_weekday * scale,
            queue_weights=weights,
            service_lines=service_lines,
            day_numbers=day_numbers,
            windows=self.windows,
            missing=missing_bins(day_numbers, zone, demand_model.BIN_SECONDS),
            weather=weather,
            rng=self.streams.demand,
        )
        self.realised = expected.realised

        # staffing inputs: forecast queue calls per half-hour, mean handle, absence
        plan_share = 1 - settings.ivr_only_share - settings.direct_dial_share
        forecast = expected.planned.sum(axis=2).reshape(len(day_numbers), HALF_HOURS_PER_DAY, -1)
        self.forecast = forecast.sum(axis=2) * plan_share
        self.handle = _expected_handle(weights, self.talk_means)
        months = day_numbers.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        self.month_position = months - months.min()
        self.progress = self.month_position / max(int(self.month_position.max()), 1)
        availability = np.clip(
            self.streams.staffing.normal(ABSENCE_MEAN, ABSENCE_SD, len(day_numbers)), 0.82, 1.05
        )
        self.availability = np.where(
            weather > 1.0, availability * demand_model.WEATHER_STAFFING, availability
        )
        self.patience_mean = self.streams.handling.uniform(*PATIENCE_MEAN_RANGE)

    def simulate(self, first: int, stop: int) -> CallTable:
        """Calls of the days with index first..stop-1 (blocks keep memory bounded)."""
        settings, windows, talk_means = self.settings, self.windows, self.talk_means
        n_queues = len(self.queue_names)

        # 1. arrivals: Poisson counts per (day, bin, queue), uniform within the bin
        rng = self.streams.arrivals
        counts = rng.poisson(self.realised[first:stop]).ravel()
        cell = np.repeat(np.arange(counts.size), counts)
        day_index = first + cell // (demand_model.BINS_PER_DAY * n_queues)
        bin_index = (cell // n_queues) % demand_model.BINS_PER_DAY
        queue = (cell % n_queues).astype(np.int16)
        second_of_day = (bin_index + rng.random(cell.size)) * demand_model.BIN_SECONDS
        del cell, bin_index
        order = np.lexsort((second_of_day, day_index))
        day_index, queue, second_of_day = day_index[order], queue[order], second_of_day[order]
        del order
        whole_second = np.floor(second_of_day).astype(np.int64)
        n = whole_second.size

        # 2. routing: closed message, in-hours IVR, direct dial or the queue
        in_hours = (whole_second >= windows.opens[day_index]) & (
            whole_second < windows.closes[day_index]
        )
        u = self.streams.routing.random(n)
        ivr, direct_share = settings.ivr_only_share, settings.direct_dial_share
        direct = in_hours & (u >= ivr) & (u < ivr + direct_share)
        queued = in_hours & (u >= ivr + direct_share)
        del u, in_hours
        outcome = np.full(n, IVR_ONLY, dtype=np.int8)
        outcome[direct] = DIRECT_DIAL
        wait = np.full(n, MISSING, dtype=np.int32)
        talk = np.full(n, MISSING, dtype=np.int32)
        hold = np.full(n, MISSING, dtype=np.int32)
        wrap = np.full(n, MISSING, dtype=np.int32)

        # 3a. direct-dial calls: answered after a short ring, no queue
        hrng = self.streams.handling
        d_count = int(direct.sum())
        d_talk, d_hold, d_wrap = _handling(hrng, talk_means[queue[direct]] * 0.8, d_count)
        wait[direct] = hrng.integers(0, DIRECT_DIAL_RING + 1, size=d_count)
        talk[direct], hold[direct], wrap[direct] = d_talk, d_hold, d_wrap

        # 3b. the queue
        q_rows = np.flatnonzero(queued)
        q_count = q_rows.size
        q_talk, q_hold, q_wrap = _handling(hrng, talk_means[queue[q_rows]], q_count)
        ring = hrng.uniform(*RING_SECONDS, size=q_count)
        patience = hrng.lognormal(
            np.log(self.patience_mean) - PATIENCE_SIGMA**2 / 2, PATIENCE_SIGMA, q_count
        )
        short = hrng.random(q_count) < SHORT_PATIENCE_SHARE
        patience[short] = hrng.uniform(0.0, SHORT_PATIENCE_MAX, size=int(short.sum()))
        delays, answered = self._queue(
            day_index[q_rows],
            second_of_day[q_rows],
            patience - ring,
            ring + q_talk + q_hold + q_wrap,
        )
        outcome[q_rows] = np.where(answered, ANSWERED, ABANDONED)
        wait[q_rows] = np.rint(np.where(answered, delays + ring, patience)).astype(np.int32)
        talk[q_rows] = np.where(answered, q_talk, MISSING)
        hold[q_rows] = np.where(answered, q_hold, MISSING)
        wrap[q_rows] = np.where(answered, q_wrap, MISSING)

        return CallTable(
            local_seconds=self.day_numbers[day_index] * DAY + whole_second,
            queue=queue, outcome=outcome, wait=wait, talk=talk, hold=hold, wrap=wrap,
            queue_names=self.queue_names,
        )  # fmt: skip

    def _queue(
        self, days: np.ndarray, arrivals: np.ndarray, limits: np.ndarray, service: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the FCFS queue day by day with that day's agents on shift."""
        delays = np.zeros(days.size)
        answered = np.zeros(days.size, dtype=bool)
        if days.size == 0:
            return delays, answered
        windows, profile = self.windows, self.settings.staffing_profile
        bounds = np.searchsorted(days, np.arange(int(days[0]), int(days[-1]) + 2))
        for offset in range(len(bounds) - 1):
            lo, hi = int(bounds[offset]), int(bounds[offset + 1])
            d = int(days[0]) + offset
            if lo == hi or not windows.is_open[d]:
                continue
            rule = staffing_rule(profile, float(self.progress[d]))
            planned = required_agents(self.forecast[d], self.handle, rule)
            on_shift = np.where(
                planned > 0, np.maximum(np.rint(planned * self.availability[d]), 1), 0
            )
            starts, ends = agent_shifts(on_shift, int(windows.opens[d]), int(windows.closes[d]))
            day_delays, day_answered = fcfs_with_patience(
                arrivals[lo:hi].tolist(),
                limits[lo:hi].tolist(),
                service[lo:hi].tolist(),
                starts,
                ends,
            )
            delays[lo:hi] = day_delays
            answered[lo:hi] = day_answered
        return delays, answered


def simulate_partner(
    spec: PartnerSpec,
    day_numbers: np.ndarray,
    holidays: BankHolidays,
    *,
    seed: int,
    scale: float,
) -> CallTable:
    """Simulate every call of one partner for the days `day_numbers` (days since 1970-01-01)."""
    model = _PartnerModel(spec, day_numbers, holidays, seed, scale)
    month = model.month_position
    starts = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
    blocks = [
        model.simulate(int(lo), int(hi))
        for lo, hi in zip(starts, [*starts[1:], len(day_numbers)], strict=True)
    ]
    extras = _test_records(
        spec, day_numbers, model.windows, len(model.queue_names), model.streams.extras
    )
    if extras is not None:
        blocks.append(extras)
    return _concat_sorted(blocks, model.queue_names)


def _test_records(
    spec: PartnerSpec,
    day_numbers: np.ndarray,
    windows: DayWindows,
    n_queues: int,
    rng: np.random.Generator,
) -> CallTable | None:
    """0-3 `test` and 0-3 `phantom` records per month (only for codes the partner has).

    Placed in opening hours; a short wait for test calls, zero for phantoms, no talk/hold/wrap.
    """
    telephony = spec.telephony
    kinds = [k for k in (TEST, PHANTOM) if telephony.code_for(OUTCOMES[k]) is not None]
    if not kinds:
        return None
    months = day_numbers.astype("datetime64[D]").astype("datetime64[M]")
    seconds, outcomes = [], []
    for month in np.unique(months):
        open_days = np.flatnonzero((months == month) & windows.is_open)
        for kind in kinds:
            for _ in range(int(rng.integers(0, MAX_EXTRA_RECORDS + 1))):
                if open_days.size == 0:
                    continue
                d = int(rng.choice(open_days))
                second = int(rng.integers(windows.opens[d], windows.closes[d]))
                seconds.append(int(day_numbers[d]) * DAY + second)
                outcomes.append(kind)
    n = len(seconds)
    outcome = np.array(outcomes, dtype=np.int8)
    missing = np.full(n, MISSING, dtype=np.int32)
    return CallTable(
        local_seconds=np.array(seconds, dtype=np.int64),
        queue=rng.integers(0, n_queues, size=n).astype(np.int16),
        outcome=outcome,
        wait=np.where(outcome == TEST, rng.integers(0, 4, size=n), 0).astype(np.int32),
        talk=missing,
        hold=missing.copy(),
        wrap=missing.copy(),
        queue_names=(),
    )


def _concat_sorted(tables: list[CallTable], queue_names: tuple[str, ...]) -> CallTable:
    fields = ("local_seconds", "queue", "outcome", "wait", "talk", "hold", "wrap")
    merged = {f: np.concatenate([getattr(t, f) for t in tables]) for f in fields}
    table = CallTable(**merged, queue_names=queue_names)
    order = np.argsort(table.local_seconds, kind="stable")
    if np.all(order[1:] > order[:-1]):
        return table  # already in order
    return table.take(order)
