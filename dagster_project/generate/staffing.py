"""Staffing plan: agents per half-hour from forecast demand, turned into agent shifts.

Required agents follow square-root staffing, N = factor * (A + safety * sqrt(A)) with offered
load A = forecast calls x mean handle time / 1800 s, scaled by the partner's
`generator.staffing_profile`. `improving` moves linearly from the `poor` to the `good` rule over
the generated months.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HALF_HOUR = 1800
HALF_HOURS_PER_DAY = 48
QUEUE_CLEAR_SECONDS = 900  # agents on the last interval stay up to 15 minutes to clear the queue


@dataclass(frozen=True)
class StaffingRule:
    factor: float  # multiplies the square-root staffing level
    safety: float  # beta: safety staffing in units of sqrt(offered load)


PROFILES = {
    "good": StaffingRule(factor=1.0, safety=1.3),  # service level ~ 88-92%
    "average": StaffingRule(factor=1.0, safety=0.65),  # ~ 75-82%
    "poor": StaffingRule(factor=0.95, safety=0.0),  # ~ 55-62%, abandons well above 8%
}


def staffing_rule(profile: str, progress: float) -> StaffingRule:
    """Rule for a profile; `progress` (0..1) is the month's position in the generated window."""
    if profile != "improving":
        return PROFILES[profile]
    start, end = PROFILES["poor"], PROFILES["good"]
    p = min(max(progress, 0.0), 1.0)
    return StaffingRule(
        factor=start.factor + (end.factor - start.factor) * p,
        safety=start.safety + (end.safety - start.safety) * p,
    )


def required_agents(
    forecast_calls: np.ndarray, handle_seconds: float, rule: StaffingRule
) -> np.ndarray:
    """Agents wanted per half-hour for the forecast queue calls of each half-hour."""
    load = forecast_calls * handle_seconds / HALF_HOUR
    agents = np.ceil(rule.factor * (load + rule.safety * np.sqrt(load)) - 1e-9)
    return np.where(load > 0, np.maximum(agents, 1), 0).astype(np.int64)


def agent_shifts(agents: np.ndarray, opens: int, closes: int) -> tuple[list[float], list[float]]:
    """Shifts (start, end in seconds of day) covering `agents` per clock half-hour.

    Only half-hours overlapping [opens, closes) are staffed (at least one agent). Agents added
    in a half-hour start at its start (or at opening); when fewer are needed, the most recently
    started leave. Agents still on at closing stay `QUEUE_CLEAR_SECONDS` to clear the queue.
    """
    first = opens // HALF_HOUR
    last = (closes - 1) // HALF_HOUR
    starts: list[float] = []
    ends: list[float] = []
    on_shift: list[float] = []
    for k in range(first, last + 1):
        begin = float(max(k * HALF_HOUR, opens))
        wanted = max(int(agents[k]), 1)
        while len(on_shift) < wanted:
            on_shift.append(begin)
        while len(on_shift) > wanted:
            starts.append(on_shift.pop())
            ends.append(begin)
    finish = float(closes + QUEUE_CLEAR_SECONDS)
    starts.extend(on_shift)
    ends.extend([finish] * len(on_shift))
    return starts, ends
