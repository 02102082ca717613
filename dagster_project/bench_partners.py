"""`hub bench --partners N`: N partners cloned from the six fictional sample partners' formats.

Clone i copies the YAML of template `TEMPLATES[i % 6]` (its telephony and CRM file formats,
codes, opening hours, complaint policy and generator block) under the code
`<template>_<i:03d>` (= file stem = landing folder), with:

- `generator.base_calls_per_weekday` times a factor drawn log-uniformly in
  [`MIN_FACTOR`, `MAX_FACTOR`] (the CRM follows the calls, so it scales with them);
- `generator.staffing_profile` drawn from the generator's profiles;
- `generator.crm.population`: clones 6k..6k+5 form one two-tier area (the county clone of
  `northmoor` and five districts) with its own residents, as the sample's six partners do, so
  the generator never holds a national population at once;
- `generator.crm.postcode_area`: two letters of its own (`AA`, `AB`, ...);
- with `crm_share` F < 1 (`hub bench --crm-share F`): `generator.crm.phone_logged_share` times
  F. The other channels are drawn per month relative to the month's logged phone contacts
  (`channel_ratios`), so every channel, and the CRM rows, scale by about F; `channel_ratios`
  are left alone (scaling them too would shrink the other channels by F squared).

Everything is drawn from (seed, i): the same arguments give the same partners. PhoneNow (a real
export) is never a template.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from dagster_project.generate.spec import STAFFING_PROFILES

TEMPLATES = ("eastbrook", "highcross", "northmoor", "riverton", "southfield", "westvale")
MIN_FACTOR, MAX_FACTOR = 0.3, 3.0
AREA_SIZE = len(TEMPLATES)  # clones per shared population (one county, five districts)
CLONE_TAG = 0xB3_4C_C1_0E
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def clone_code(i: int) -> str:
    return f"{TEMPLATES[i % len(TEMPLATES)]}_{i:03d}"


def _postcode_area(i: int) -> str:
    return LETTERS[(i // len(LETTERS)) % len(LETTERS)] + LETTERS[i % len(LETTERS)]


def check_crm_share(crm_share: float) -> None:
    if not 0 < crm_share <= 1:
        raise ValueError(f"--crm-share must be in (0, 1], got {crm_share:g}")


def clone_partner(template: dict, i: int, seed: int, crm_share: float = 1.0) -> dict:
    """The YAML mapping of clone `i` of `template` (a parsed partner YAML)."""
    check_crm_share(crm_share)
    rng = np.random.default_rng([seed, CLONE_TAG, i])
    factor = math.exp(rng.uniform(math.log(MIN_FACTOR), math.log(MAX_FACTOR)))
    profile = STAFFING_PROFILES[int(rng.integers(len(STAFFING_PROFILES)))]
    clone = yaml.safe_load(yaml.safe_dump(template, allow_unicode=True))  # deep copy
    code = clone_code(i)
    clone["code"] = code
    clone["name"] = f"{template['name']} {i:03d} (benchmark clone)"
    clone["is_fictional"] = True
    generator = clone["generator"]
    generator["base_calls_per_weekday"] = round(
        float(template["generator"]["base_calls_per_weekday"]) * factor, 1)
    generator["staffing_profile"] = profile
    crm = generator.get("crm")
    if crm is not None:
        crm["population"] = f"area_{i // AREA_SIZE:03d}"
        crm["postcode_area"] = _postcode_area(i)
        if crm_share != 1:
            crm["phone_logged_share"] = round(
                float(crm.get("phone_logged_share", 0.9)) * crm_share, 6)
    return clone


def write_clones(count: int, templates_dir: Path, target_dir: Path, seed: int,
                 crm_share: float = 1.0) -> list[Path]:
    """Write `count` clone YAMLs into `target_dir` (created); returns their paths."""
    if count < 1:
        raise ValueError("--partners must be at least 1")
    check_crm_share(crm_share)
    templates = {}
    for code in TEMPLATES:
        path = templates_dir / f"{code}.yml"
        templates[code] = yaml.safe_load(path.read_text(encoding="utf-8"))
    target_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        clone = clone_partner(templates[TEMPLATES[i % len(TEMPLATES)]], i, seed, crm_share)
        path = target_dir / f"{clone['code']}.yml"
        path.write_text(
            f"# Benchmark clone {i} of {TEMPLATES[i % len(TEMPLATES)]}.yml (hub bench "
            f"--partners, seed {seed}"
            + (f", CRM share {crm_share:g}" if crm_share != 1 else "") + "): invented.\n"
            + yaml.safe_dump(clone, allow_unicode=True, sort_keys=False, width=120),
            encoding="utf-8")
        paths.append(path)
    return paths
