"""CRM contacts of one partner, consistent with its simulated calls (vectorised numpy).

1. **Phone**: a share (`phone_logged_share`, ~90 %) of the partner's *answered* calls is logged,
   created at call start + wait + a few seconds (local time), about the call's queue's service
   line (named as the CRM names it).
2. **Other channels** per month relative to the month's phone contacts (`channel_ratios`), each
   ratio changing by `monthly_growth` per month (web rising, face to face falling: channel
   shift). Face to face and letters are logged in opening hours, web / social 24/7 with an
   evening tail, email mostly in office hours.
3. **Customers** from the shared population (`customers`), ~10 % anonymous.
4. **Outcome**: first-contact resolution by channel, back office mostly when not resolved,
   resolved minutes (FPOC) or days (back office) later, open when not resolved by the end.
5. **Repeats**: an unresolved contact leads to a repeat by the same customer about the same
   service within 7 days far more often (~35 %) than a resolved one (~7 %); often another
   channel, often `progress_chasing`. A phone repeat takes over a later logged call.
6. **Satisfaction, complaints, comments, compliments** with stage and working-day responses.
7. **KPI dirt** that stays in the data (duplicate cases, name spellings, invalid phone numbers
   and postcodes): see `crm_dirt`.

All random draws come from the partner's own CRM stream, so telephony is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .closures import DayWindows
from .crm_spec import CHANNELS, CrmPartner
from .customers import Population
from .local_time import DAY
from .simulation import ANSWERED, CallTable, stable_code_hash
from .spec import PartnerSpec

CRM_TAG = 0xC2_3A_11_ED
PHONE, FACE_TO_FACE, WEB, EMAIL, LETTER, SOCIAL = range(len(CHANNELS))
IN_HOURS_CHANNELS = (FACE_TO_FACE, LETTER)
HOUR_PROFILES = {  # relative contacts per hour of day for channels open around the clock
    WEB: [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 6, 7, 7, 7, 7, 7, 6, 6, 6, 7, 8, 8, 7, 5, 3],
    EMAIL: [0.5, 0.2, 0.2, 0.1, 0.1, 0.2, 0.5, 2, 6, 9, 9, 8, 7, 8, 8, 8, 7, 5, 3, 2, 2, 2, 1.5, 1],
    SOCIAL: [2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 4, 5, 5, 5, 6, 6, 5, 5, 5, 6, 7, 8, 8, 7, 5, 3],
}
WEEKEND_FACTOR = {WEB: 0.7, EMAIL: 0.35, SOCIAL: 0.9}
ENQUIRY_TYPES = ("Request", "Information", "Payment", "Report", "Application",
                 "Change of circumstances", "Booking", "Appointment")  # fmt: skip
ENQUIRY_WEIGHTS = np.array([0.25, 0.22, 0.15, 0.14, 0.08, 0.08, 0.05, 0.03])
REPEAT_IF_RESOLVED, REPEAT_IF_UNRESOLVED = 0.05, 0.48  # planned; ~7 % / ~35 % as measured
REPEAT_SAME_CHANNEL = 0.5
REPEAT_CHANNELS = np.array([PHONE, WEB, EMAIL, FACE_TO_FACE])
REPEAT_CHANNEL_WEIGHTS = np.array([0.5, 0.25, 0.15, 0.1])
REPEAT_CHASING = 0.6  # repeats of unresolved contacts logged as progress chasing
AVOIDABLE_SHARE = 0.15  # other contacts with an avoidable category
AVOIDABLE_WEIGHTS = np.array([0, 0.1, 0.35, 0.3, 0.25])  # per AVOIDABLE (none excluded)
BACK_OFFICE_IF_UNRESOLVED, BACK_OFFICE_IF_RESOLVED = 0.85, 0.04
COMMENT_SHARE, COMPLIMENT_SHARE, STAGE_2_SHARE = 0.003, 0.003, 0.1
# personal fields given, by channel (phone, f2f, web, email, letter, social)
GIVES_PHONE = np.array([0.9, 0.6, 0.55, 0.25, 0.2, 0.15])
GIVES_EMAIL = np.array([0.35, 0.3, 0.95, 1.0, 0.1, 0.4])
GIVES_POSTCODE = np.array([0.6, 0.7, 0.8, 0.4, 1.0, 0.2])
GIVES_UPRN = np.array([0.3, 0.5, 0.6, 0.1, 0.4, 0.05])
NONE = -1


@dataclass(frozen=True)
class ContactTable:
    """A partner's CRM contacts, sorted by created time (local naive epoch seconds)."""

    created: np.ndarray  # int64
    channel: np.ndarray  # int8 index into CHANNELS
    service: np.ndarray  # int16 index into the partner's service names
    person: np.ndarray  # int64 population index, NONE = anonymous
    fcr: np.ndarray  # bool
    back_office: np.ndarray  # bool
    resolved: np.ndarray  # int64, NONE = open
    avoidable: np.ndarray  # int8 index into AVOIDABLE
    satisfaction: np.ndarray  # int8, 0 = no response
    feedback: np.ndarray  # int8 index into FEEDBACK, NONE = ordinary enquiry
    stage: np.ndarray  # int8 1 or 2 (complaints)
    responded: np.ndarray  # int64, NONE = not answered (yet)
    enquiry_type: np.ndarray  # int8 index into ENQUIRY_TYPES
    gives_phone: np.ndarray  # bool
    gives_email: np.ndarray
    gives_postcode: np.ndarray
    gives_uprn: np.ndarray
    is_repeat: np.ndarray  # bool: planned repeat of an earlier contact
    name_variant: np.ndarray  # int8: 0 clean, else a spelling variant (crm_dirt)
    bad_phone: np.ndarray  # int8: 0 clean, else an invalid phone variant
    bad_postcode: np.ndarray  # int8
    duplicate_of: np.ndarray  # int64: NONE, or the row this duplicate case copies

    def __len__(self) -> int:
        return len(self.created)

    def take(self, index: np.ndarray | slice) -> ContactTable:
        return ContactTable(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def crm_rng(seed: int, code: str) -> np.random.Generator:
    return np.random.default_rng([seed, CRM_TAG, stable_code_hash(code)])


def expected_contacts(spec: PartnerSpec, partner: CrmPartner, scale: float, months: int) -> float:
    """Rough contact count (sizes the population before anything is simulated)."""
    assert spec.generator is not None
    ratios = sum(partner.settings.channel_ratios.values())
    return spec.generator.base_calls_per_weekday * scale * months * 21 * 0.75 * (1 + ratios)


def _service_of_queue(spec: PartnerSpec, partner: CrmPartner, queue_names: tuple[str, ...]):
    """Per telephony queue: index of the CRM service name for the queue's service line."""
    assert spec.telephony is not None
    names = list(partner.crm.services)
    first = {}
    for i, line in enumerate(partner.crm.services.values()):
        first.setdefault(line, i)
    fallback = first.get("general", 0)
    lines = [spec.telephony.queues[q] for q in queue_names]
    return np.array([first.get(line, fallback) for line in lines], dtype=np.int16), names


class _Days:
    """The run's days: windows, month index, and next open day (for in-hours channels)."""

    def __init__(self, day_numbers: np.ndarray, windows: DayWindows) -> None:
        self.numbers = day_numbers
        self.windows = windows
        months = day_numbers.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        self.month = months - months.min()
        self.n_months = int(self.month.max()) + 1
        self.weekend = ((day_numbers + 3) % 7) >= 5
        is_open = windows.is_open
        # next open day index at or after each day (len = no open day left)
        nxt = np.full(len(day_numbers) + 1, len(day_numbers))
        for i in range(len(day_numbers) - 1, -1, -1):
            nxt[i] = i if is_open[i] else nxt[i + 1]
        self.next_open = nxt
        self.start = int(day_numbers[0]) * DAY
        self.end = (int(day_numbers[-1]) + 1) * DAY


def _in_hours(rng: np.random.Generator, days: _Days, day_index: np.ndarray) -> np.ndarray:
    w = days.windows
    opens, closes = w.opens[day_index], w.closes[day_index]
    return (
        days.numbers[day_index] * DAY
        + opens
        + np.floor(rng.random(day_index.size) * (closes - opens)).astype(np.int64)
    )


def _channel_arrivals(
    rng: np.random.Generator, days: _Days, channel: int, expected_per_month: np.ndarray
) -> np.ndarray:
    """Created times of one non-phone channel: Poisson per day, times by channel profile."""
    if channel in IN_HOURS_CHANNELS:
        w = days.windows
        weight = np.where(w.is_open, (w.closes - w.opens).astype(float), 0.0)
    else:
        weight = np.where(days.weekend, WEEKEND_FACTOR[channel], 1.0)
    month_weight = np.bincount(days.month, weights=weight, minlength=days.n_months)
    share = np.divide(weight, month_weight[days.month], out=np.zeros_like(weight),
                      where=month_weight[days.month] > 0)  # fmt: skip
    counts = rng.poisson(expected_per_month[days.month] * share)
    day_index = np.repeat(np.arange(len(counts)), counts)
    if channel in IN_HOURS_CHANNELS:
        return _in_hours(rng, days, day_index)
    profile = np.array(HOUR_PROFILES[channel], dtype=float)
    hour = np.searchsorted(np.cumsum(profile), rng.random(day_index.size) * profile.sum(),
                           side="right")  # fmt: skip
    second = hour * 3600 + rng.integers(0, 3600, size=day_index.size)
    return days.numbers[day_index] * DAY + second


def _snap_in_hours(rng: np.random.Generator, days: _Days, created: np.ndarray) -> np.ndarray:
    """Move times outside opening hours to a time in the next open day's hours (or later)."""
    day_index = np.clip(created // DAY - int(days.numbers[0]), 0, len(days.numbers) - 1)
    w = days.windows
    second = created % DAY
    inside = w.is_open[day_index] & (second >= w.opens[day_index]) & (second < w.closes[day_index])
    target = days.next_open[np.where(second >= w.closes[day_index], day_index + 1, day_index)]
    out = created.copy()
    move = ~inside & (target < len(days.numbers))
    out[move] = _in_hours(rng, days, target[move])
    out[~inside & ~move] = days.end  # past the run: dropped by the caller
    return np.maximum(out, created)


def _draw(rng: np.random.Generator, weights: np.ndarray, count: int) -> np.ndarray:
    cumulative = np.cumsum(weights)
    return np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")


def simulate_contacts(
    spec: PartnerSpec,
    partner: CrmPartner,
    calls: CallTable,
    population: Population,
    day_numbers: np.ndarray,
    windows: DayWindows,
    holidays: np.ndarray,
    *,
    seed: int,
) -> tuple[ContactTable, list[str]]:
    """The partner's contacts and its CRM service names (indexed by `ContactTable.service`)."""
    assert spec.generator is not None
    settings = partner.settings
    rng = crm_rng(seed, partner.code)
    days = _Days(day_numbers, windows)
    queue_service, service_names = _service_of_queue(spec, partner, calls.queue_names)
    queue_weights = np.array([spec.generator.queue_weights[q] for q in calls.queue_names])

    # 1. phone: logged answered calls
    answered = np.flatnonzero(calls.outcome == ANSWERED)
    logged = answered[rng.random(answered.size) < settings.phone_logged_share]
    phone_created = (
        calls.local_seconds[logged] + calls.wait[logged] + rng.integers(3, 40, size=logged.size)
    )
    created_parts = [phone_created]
    channel_parts = [np.full(logged.size, PHONE, dtype=np.int8)]
    service_parts = [queue_service[calls.queue[logged]]]

    # 2. other channels relative to the month's phone contacts, shifting month by month
    phone_month = days.month[np.clip(phone_created // DAY - int(day_numbers[0]), 0,
                                     len(day_numbers) - 1)]  # fmt: skip
    phone_per_month = np.bincount(phone_month, minlength=days.n_months).astype(float)
    position = np.arange(days.n_months)
    for channel in range(1, len(CHANNELS)):
        name = CHANNELS[channel]
        ratio = settings.channel_ratios.get(name, 0.0)
        growth = settings.monthly_growth.get(name, 0.0)
        expected = phone_per_month * ratio * np.maximum(1 + growth, 0.0) ** position
        created = _channel_arrivals(rng, days, channel, expected)
        created_parts.append(created)
        channel_parts.append(np.full(created.size, channel, dtype=np.int8))
        q = _draw(rng, queue_weights, created.size)
        service_parts.append(queue_service[q])
    created = np.concatenate(created_parts)
    channel = np.concatenate(channel_parts)
    service = np.concatenate(service_parts).astype(np.int16)
    n = created.size
    is_logged_call = np.r_[np.ones(logged.size, bool), np.zeros(n - logged.size, bool)]

    # 3. customers
    person = population.draw(rng, partner.code, n).astype(np.int64)
    person[rng.random(n) < settings.anonymous_share] = NONE

    # 4. first-contact resolution
    fcr_p = np.array([settings.fcr.get(c, 0.75) for c in CHANNELS])
    fcr = rng.random(n) < fcr_p[channel]
    avoidable = np.zeros(n, dtype=np.int8)
    pick = rng.random(n) < AVOIDABLE_SHARE
    avoidable[pick] = _draw(rng, AVOIDABLE_WEIGHTS, int(pick.sum()))
    is_repeat = np.zeros(n, dtype=bool)

    # 5. repeats: new rows (other channels) or a later logged call taken over (phone)
    order = np.argsort(created, kind="stable")
    can = np.flatnonzero(person >= 0)
    p_repeat = np.where(fcr[can], REPEAT_IF_RESOLVED, REPEAT_IF_UNRESOLVED)
    origin = can[rng.random(can.size) < p_repeat]
    delay = np.clip(rng.exponential(1.8 * DAY, origin.size), 1.5 * 3600, 6.9 * DAY)
    when = created[origin] + delay.astype(np.int64)
    same = rng.random(origin.size) < REPEAT_SAME_CHANNEL
    other = REPEAT_CHANNELS[_draw(rng, REPEAT_CHANNEL_WEIGHTS, origin.size)]
    new_channel = np.where(same, channel[origin], other).astype(np.int8)
    chasing = ~fcr[origin] & (rng.random(origin.size) < REPEAT_CHASING)

    by_phone = new_channel == PHONE
    calls_sorted = order[is_logged_call[order]]
    call_times = created[calls_sorted]
    p_origin, p_when, p_chasing = origin[by_phone], when[by_phone], chasing[by_phone]
    if call_times.size:
        slot = np.minimum(np.searchsorted(call_times, p_when), call_times.size - 1)
        ok = (call_times[slot] >= p_when) & (call_times[slot] - p_when < DAY)
        target, first = np.unique(calls_sorted[slot[ok]], return_index=True)
        src = p_origin[ok][first]
        person[target] = person[src]
        service[target] = service[src]
        is_repeat[target] = True
        avoidable[target] = np.where(p_chasing[ok][first], 1, avoidable[target])

    rest = ~by_phone
    r_origin, r_when, r_channel = origin[rest], when[rest], new_channel[rest]
    in_hours = np.isin(r_channel, IN_HOURS_CHANNELS)
    r_when[in_hours] = _snap_in_hours(rng, days, r_when[in_hours])
    inside = r_when < days.end
    r_origin, r_when, r_channel = r_origin[inside], r_when[inside], r_channel[inside]
    m = r_origin.size
    created = np.r_[created, r_when]
    channel = np.r_[channel, r_channel]
    service = np.r_[service, service[r_origin]]
    person = np.r_[person, person[r_origin]]
    r_fcr = rng.random(m) < fcr_p[r_channel]
    fcr = np.r_[fcr, r_fcr]
    r_avoid = np.where(chasing[rest][inside], 1, 0).astype(np.int8)
    extra = (r_avoid == 0) & (rng.random(m) < AVOIDABLE_SHARE)
    r_avoid[extra] = _draw(rng, AVOIDABLE_WEIGHTS, int(extra.sum()))
    avoidable = np.r_[avoidable, r_avoid]
    is_repeat = np.r_[is_repeat, np.ones(m, bool)]
    n = created.size

    # 6. outcome times, satisfaction, feedback
    back_office = rng.random(n) < np.where(fcr, BACK_OFFICE_IF_RESOLVED,
                                           BACK_OFFICE_IF_UNRESOLVED)  # fmt: skip
    quick = np.where(np.isin(channel, (PHONE, FACE_TO_FACE)), 240.0, 2400.0)
    minutes = np.clip(rng.lognormal(np.log(quick), 0.8), 30, 3 * DAY)
    later_day = created // DAY + np.ceil(np.clip(rng.gamma(2.0, 2.5, n), 0.2, 40))
    office_time = later_day.astype(np.int64) * DAY + rng.integers(8 * 3600, 17 * 3600, n)
    resolved = np.where(fcr, created + minutes.astype(np.int64), office_time)
    resolved[resolved >= days.end] = NONE

    satisfaction = np.zeros(n, dtype=np.int8)
    answers = (resolved != NONE) & (rng.random(n) < settings.satisfaction_share)
    mean = np.where(fcr, settings.satisfaction_mean, settings.satisfaction_mean - 0.9)[answers]
    satisfaction[answers] = np.clip(np.rint(rng.normal(mean, 1.0)), 1, 5).astype(np.int8)

    u = rng.random(n)
    complaint_p = settings.complaint_share * np.where(fcr, 0.6, 2.0)
    feedback = np.full(n, NONE, dtype=np.int8)
    feedback[u < complaint_p] = 0
    comment = (u >= complaint_p) & (u < complaint_p + COMMENT_SHARE)
    feedback[comment] = 1
    compliment = (u >= complaint_p + COMMENT_SHARE) & (
        u < complaint_p + COMMENT_SHARE + COMPLIMENT_SHARE * np.where(fcr, 1.3, 0.3)
    )
    feedback[compliment] = 2
    stage = np.where((feedback == 0) & (rng.random(n) < STAGE_2_SHARE), 2, 1).astype(np.int8)
    responded = _responses(rng, partner, created, feedback, stage, holidays, days.end)

    enquiry_type = _draw(rng, ENQUIRY_WEIGHTS, n).astype(np.int8)
    gives_email = rng.random(n) < GIVES_EMAIL[channel]
    gives_phone = (rng.random(n) < GIVES_PHONE[channel]) | ~gives_email  # one way to reply
    gives_postcode = rng.random(n) < GIVES_POSTCODE[channel]
    gives_uprn = rng.random(n) < GIVES_UPRN[channel]
    zeros = np.zeros(n, dtype=np.int8)
    table = ContactTable(
        created=created, channel=channel, service=service, person=person, fcr=fcr,
        back_office=back_office, resolved=resolved, avoidable=avoidable,
        satisfaction=satisfaction, feedback=feedback, stage=stage, responded=responded,
        enquiry_type=enquiry_type, gives_phone=gives_phone, gives_email=gives_email,
        gives_postcode=gives_postcode, gives_uprn=gives_uprn, is_repeat=is_repeat,
        name_variant=zeros, bad_phone=zeros.copy(), bad_postcode=zeros.copy(),
        duplicate_of=np.full(n, NONE, dtype=np.int64),
    )  # fmt: skip
    table = table.take(np.argsort(table.created, kind="stable"))
    assert table.created.min(initial=days.start) >= days.start
    return table, service_names


def _responses(
    rng: np.random.Generator,
    partner: CrmPartner,
    created: np.ndarray,
    feedback: np.ndarray,
    stage: np.ndarray,
    holidays: np.ndarray,
    end: int,
) -> np.ndarray:
    """Response time of feedback: after a number of working days, most within the policy."""
    rows = np.flatnonzero(feedback != NONE)
    responded = np.full(created.size, NONE, dtype=np.int64)
    if rows.size == 0:
        return responded
    policy = np.where(stage[rows] == 2, partner.policy_days[1], partner.policy_days[0])
    late = (feedback[rows] == 0) & (rng.random(rows.size) < partner.settings.late_complaint_share)
    within = 1 + np.floor(rng.beta(2.0, 1.6, rows.size) * policy).astype(np.int64)
    working_days = np.where(
        late, policy + rng.integers(1, 12, rows.size), np.minimum(within, policy)
    )
    received = (created[rows] // DAY).astype("datetime64[D]")
    answer_day = np.busday_offset(received, working_days, roll="backward", holidays=holidays)
    seconds = answer_day.astype(np.int64) * DAY + rng.integers(9 * 3600, 17 * 3600, rows.size)
    seconds = np.maximum(seconds, created[rows] + 600)
    responded[rows] = np.where(seconds < end, seconds, NONE)
    return responded


def population_areas(
    partners: list[tuple[PartnerSpec, CrmPartner]], scale: float, months: int
) -> list[tuple[str, str, float]]:
    """Resident-owning partners for `customers.build_population`: every non-county partner
    (all of them when there is no district), with its expected contacts; a county's expected
    contacts are spread over its districts' residents."""
    owners = [(s, p) for s, p in partners if p.kind != "county"] or partners
    county = sum(expected_contacts(s, p, scale, months) for s, p in partners if p.kind == "county")
    own_total = sum(expected_contacts(s, p, scale, months) for s, p in owners) or 1.0
    areas = []
    for s, p in owners:
        expected = expected_contacts(s, p, scale, months)
        if owners is not partners:
            expected += county * expected / own_total
        areas.append((p.code, p.settings.postcode_area, expected))
    return areas
