"""A synthetic population of residents who contact the councils (invented people).

Each district-tier partner (any partner that is not a `county`) has its own residents, with
postcodes in its own invented postcode area; a county's residents are everyone in its districts
(two-tier areas share residents), so the same person contacts a district and the county. A few
contacts at a district come from a resident of another district (people work elsewhere).

Every person has a name, a phone number (07... mobile or 01... landline), an email address for
some, a postcode in the valid UK shape and a UPRN for some, and an activity weight (a few people
contact very often). Deterministic in (seed, the partners, scale, months).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORENAMES = (
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia", "Jack", "Ivy",
    "Leo", "Lily", "Arthur", "Freya", "Oscar", "Grace", "Charlie", "Sophia", "Muhammad",
    "Ella", "Thomas", "Evie", "James", "Poppy", "William", "Ruby", "Henry", "Alice", "Joseph",
    "Emily", "David", "Sarah", "Michael", "Helen", "Peter", "Susan", "John", "Margaret",
    "Robert", "Patricia", "Daniel", "Chloe", "Samuel", "Zoë", "Aisha", "Priya", "Rohan",
    "Fatima", "Kwame", "Chinedu", "Agnieszka", "Tomasz", "Siobhan", "Rhys", "Eilidh", "Ewan",
    "Bethan", "Dylan", "Noémie", "José",
)  # fmt: skip
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett",
    "Young", "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh", "Shaw",
    "Bell", "Collins", "Morgan", "Kelly", "Begum", "Dixon", "Price", "Murphy", "Ahmed",
    "O'Brien", "Nowak", "Kowalski", "Okafor", "Mensah", "Fletcher", "Holmes", "Gray",
    "Lloyd", "Pearce", "Chapman", "Hussain", "Ali", "Marsh", "Booth", "Rees",
)  # fmt: skip
TITLES = ("Mr", "Mrs", "Ms", "Miss", "Dr")
MAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)  # inward code letters
PEOPLE_PER_CONTACT = 1 / 3  # residents per expected contact (people contact several times)
MIN_RESIDENTS = 200
EMAIL_SHARE, UPRN_SHARE, LANDLINE_SHARE = 0.6, 0.55, 0.25
VISITOR_SHARE = 0.04  # contacts at a district by a resident of another district
POPULATION_TAG = 0xC0_57_0E_75


@dataclass(frozen=True)
class Population:
    forename: np.ndarray  # object arrays of the few names and titles
    surname: np.ndarray
    title: np.ndarray
    # UTF-8 bytes, b"" = not known (`text` gives them back as text): a string object per
    # resident and field held about 3.5 GB at scale 10, these about a fifth of it
    phone: np.ndarray
    email: np.ndarray
    postcode: np.ndarray
    uprn: np.ndarray
    activity: np.ndarray  # float weights
    home: np.ndarray  # index into `areas`
    areas: tuple[str, ...]  # partner codes that own residents

    def __len__(self) -> int:
        return len(self.forename)

    def pool(self, code: str) -> np.ndarray:
        """Person indices a partner's contacts come from (its residents; everyone for a
        partner that owns none, e.g. a county)."""
        if code in self.areas:
            return np.flatnonzero(self.home == self.areas.index(code))
        return np.arange(len(self))

    def draw(self, rng: np.random.Generator, code: str, count: int) -> np.ndarray:
        """`count` person indices for the partner's contacts, weighted by activity."""
        pool = self.pool(code)
        weights = self.activity[pool]
        picked = pool[_weighted(rng, weights, count)]
        if code in self.areas and count:
            visitors = rng.random(count) < VISITOR_SHARE
            picked[visitors] = _weighted(rng, self.activity, int(visitors.sum()))
        return picked


def text(values: np.ndarray) -> np.ndarray:
    """A population field's values (UTF-8 bytes) as an object array of text."""
    return np.char.decode(values, "utf-8").astype(object)


def _bytes(values: np.ndarray) -> np.ndarray:
    """Text (an object array) as fixed-width UTF-8 bytes, the population's storage."""
    return np.char.encode(values.astype(str), "utf-8")


def _weighted(rng: np.random.Generator, weights: np.ndarray, count: int) -> np.ndarray:
    cumulative = np.cumsum(weights)
    return np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")


TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)
THREE_DIGITS = np.array([f"{i:03d}" for i in range(1000)], dtype=object)
NUMBERS = np.array([str(i) for i in range(100)], dtype=object)


def _digits(rng: np.random.Generator, count: int, width: int) -> np.ndarray:
    """`count` random digit strings of `width` (a multiple of 3, or 2)."""
    if width == 2:
        return TWO_DIGITS[rng.integers(0, 100, size=count)]
    out = THREE_DIGITS[rng.integers(0, 1000, size=count)]
    for _ in range(width // 3 - 1):
        out = out + THREE_DIGITS[rng.integers(0, 1000, size=count)]
    return out


def build_population(
    areas: list[tuple[str, str, float]], *, seed: int, stream: int | None = None
) -> Population:
    """`areas`: (partner code, postcode area letters, expected contacts) per resident-owning
    partner, in a fixed order. `stream` tells apart the populations of separate groups of
    partners (`generator.crm.population`); None for the one shared population."""
    rng = np.random.default_rng(
        [seed, POPULATION_TAG] if stream is None else [seed, POPULATION_TAG, stream]
    )
    sizes = [max(MIN_RESIDENTS, int(expected * PEOPLE_PER_CONTACT)) for _, _, expected in areas]
    n = int(sum(sizes))
    home = np.repeat(np.arange(len(areas)), sizes).astype(np.int16)
    first, last = rng.integers(len(FORENAMES), size=n), rng.integers(len(SURNAMES), size=n)
    forename = np.array(FORENAMES, dtype=object)[first]
    surname = np.array(SURNAMES, dtype=object)[last]
    title = np.array(TITLES, dtype=object)[rng.integers(len(TITLES), size=n)]

    landline = rng.random(n) < LANDLINE_SHARE
    mobile = "07" + _digits(rng, n, 3) + " " + _digits(rng, n, 6)
    fixed = "01" + _digits(rng, n, 3) + " " + _digits(rng, n, 6)
    phone = _bytes(np.where(landline, fixed, mobile))
    del mobile, fixed  # one field's text at a time

    has_email = rng.random(n) < EMAIL_SHARE
    domain = np.array(MAIL_DOMAINS, dtype=object)[rng.integers(len(MAIL_DOMAINS), size=n)]
    lower_first = np.array([f.lower() for f in FORENAMES], dtype=object)
    lower_last = np.array([s.lower().replace("'", "") for s in SURNAMES], dtype=object)
    local = lower_first[first] + "." + lower_last[last]
    email = _bytes(np.where(has_email, local + _digits(rng, n, 2) + "@" + domain, ""))
    del local, domain

    area_letters = np.array([letters for _, letters, _ in areas], dtype=object)[home]
    district = NUMBERS[rng.integers(1, 30, size=n)]
    sector = NUMBERS[rng.integers(0, 10, size=n)]
    unit = (
        POSTCODE_LETTERS[rng.integers(len(POSTCODE_LETTERS), size=n)]
        + POSTCODE_LETTERS[rng.integers(len(POSTCODE_LETTERS), size=n)]
    )
    postcode = _bytes(area_letters + district + " " + sector + unit)
    del area_letters, district, sector, unit

    has_uprn = rng.random(n) < UPRN_SHARE
    uprn = _bytes(np.where(has_uprn, "10" + _digits(rng, n, 9), ""))
    activity = rng.lognormal(0.0, 0.9, size=n)
    return Population(
        forename=forename, surname=surname, title=title, phone=phone, email=email,
        postcode=postcode, uprn=uprn, activity=activity, home=home,
        areas=tuple(code for code, _, _ in areas),
    )  # fmt: skip
