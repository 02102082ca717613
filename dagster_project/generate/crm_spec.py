"""What the CRM generator reads from a partner YAML: `sources.crm`, `complaint_policy` and the
`generator.crm` block (docs/crm.md is the contract for the first two).

Read separately from `spec.PartnerSpec` so the telephony generator is untouched by CRM keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .spec import PartnerSpecError

CRM_FIELDS = (
    "enquiry_id", "created_at", "channel", "resolved_at", "service", "enquiry_type",
    "first_contact_resolved", "back_office", "avoidable_reason", "satisfaction",
    "feedback_type", "feedback_stage", "responded_at", "customer_name", "phone", "email",
    "postcode", "uprn",
)  # fmt: skip
CHANNELS = ("phone", "face_to_face", "web", "email", "letter", "social")
AVOIDABLE = ("none", "progress_chasing", "service_failure", "poor_communication",
             "poor_signposting")  # fmt: skip
FEEDBACK = ("complaint", "comment", "compliment")
TIMESTAMP_FIELDS = ("created_at", "resolved_at", "responded_at")


@dataclass(frozen=True)
class CrmFormat:
    """How the partner's CRM files look (duck-compatible with `period_file_name`)."""

    files_glob: str
    period_pattern: str | None
    file_type: str  # csv | jsonl
    delimiter: str
    encoding: str
    columns: tuple[tuple[str, str], ...]  # (canonical field, header or dotted key path)
    timestamp_format: str
    timestamp_zone: str  # local | utc
    codes: dict[str, dict[str, str]]  # field -> canonical value -> partner code (first listed)
    all_codes: dict[str, frozenset[str]]  # field -> every partner code listed
    services: dict[str, str]  # partner service name -> service line


@dataclass(frozen=True)
class CrmSettings:
    """`generator.crm`: how the partner's CRM behaves (all optional, with defaults)."""

    phone_logged_share: float
    channel_ratios: dict[str, float]  # non-phone channel -> contacts per phone contact (month 1)
    monthly_growth: dict[str, float]  # channel -> relative change of its ratio per month
    fcr: dict[str, float]  # channel -> first-contact resolution probability
    satisfaction_share: float  # of resolved contacts
    satisfaction_mean: float  # mean score of FPOC-resolved contacts (back office: 0.8 lower)
    complaint_share: float
    late_complaint_share: float  # complaints answered after the policy days
    id_prefix: str
    id_digits: int
    postcode_area: str  # district residents' postcode area letters
    anonymous_share: float
    # partners with the same `population` share residents (one two-tier area); "" (default):
    # every partner without one shares a single population
    population: str = ""


@dataclass(frozen=True)
class CrmPartner:
    code: str
    kind: str  # county | district | ...
    crm: CrmFormat
    settings: CrmSettings
    policy_days: tuple[int, int]  # stage 1, stage 2 working days


DEFAULT_RATIOS = {"face_to_face": 0.2, "web": 0.35, "email": 0.2, "letter": 0.04, "social": 0.03}
DEFAULT_GROWTH = {"web": 0.03, "face_to_face": -0.025, "letter": -0.02}
DEFAULT_FCR = {"phone": 0.8, "face_to_face": 0.85, "web": 0.72, "email": 0.7, "letter": 0.66,
               "social": 0.7}  # fmt: skip


def _crm_format(raw: dict[str, Any], where: str) -> CrmFormat:
    fmt = raw.get("format") or {}
    file_type = fmt.get("type", "csv")
    if file_type not in ("csv", "jsonl"):
        raise PartnerSpecError(f"{where}: the generator writes crm format.type csv or jsonl")
    columns = tuple((str(f), str(h)) for f, h in (raw.get("columns") or {}).items())
    unknown = {f for f, _ in columns} - set(CRM_FIELDS)
    if unknown:
        raise PartnerSpecError(f"{where}: unknown crm fields {sorted(unknown)}")
    missing = {"enquiry_id", "created_at", "channel"} - {f for f, _ in columns}
    if missing:
        raise PartnerSpecError(f"{where}: crm columns must map {sorted(missing)}")
    codes: dict[str, dict[str, str]] = {}
    all_codes: dict[str, frozenset[str]] = {}
    for field, mapping in (raw.get("codes") or {}).items():
        first: dict[str, str] = {}
        for code, value in (mapping or {}).items():
            first.setdefault(str(value), str(code))
        codes[str(field)] = first
        all_codes[str(field)] = frozenset(str(code) for code in mapping or {})
    if set(codes.get("channel", {})) != set(CHANNELS):
        raise PartnerSpecError(f"{where}: codes.channel must give a code for each of {CHANNELS}")
    codes.setdefault("flag", {"true": "Y", "false": "N"})
    all_codes.setdefault("flag", frozenset({"Y", "N"}))
    zone = raw.get("timestamp_zone", "local")
    if zone not in ("local", "utc"):
        raise PartnerSpecError(f"{where}: crm timestamp_zone must be local or utc")
    return CrmFormat(
        files_glob=raw.get("files", "*"),
        period_pattern=raw.get("period_pattern"),
        file_type=file_type,
        delimiter=fmt.get("delimiter", ","),
        encoding=fmt.get("encoding", "utf-8"),
        columns=columns,
        timestamp_format=raw.get("timestamp_format", "%Y-%m-%d %H:%M:%S"),
        timestamp_zone=zone,
        codes=codes,
        all_codes=all_codes,
        services={str(name): str(line) for name, line in (raw.get("services") or {}).items()},
    )


def _settings(raw: dict[str, Any], code: str) -> CrmSettings:
    return CrmSettings(
        phone_logged_share=float(raw.get("phone_logged_share", 0.9)),
        channel_ratios={**DEFAULT_RATIOS, **(raw.get("channel_ratios") or {})},
        monthly_growth={**DEFAULT_GROWTH, **(raw.get("monthly_growth") or {})},
        fcr={**DEFAULT_FCR, **(raw.get("first_contact_resolution") or {})},
        satisfaction_share=float(raw.get("satisfaction_share", 0.25)),
        satisfaction_mean=float(raw.get("satisfaction_mean", 4.0)),
        complaint_share=float(raw.get("complaint_share", 0.007)),
        late_complaint_share=float(raw.get("late_complaint_share", 0.15)),
        id_prefix=str(raw.get("id_prefix", code[:3].upper() + "-")),
        id_digits=int(raw.get("id_digits", 7)),
        postcode_area=str(raw.get("postcode_area", code[:2].upper())),
        anonymous_share=float(raw.get("anonymous_share", 0.1)),
        population=str(raw.get("population") or ""),
    )


def load_crm_partner(path: Path) -> CrmPartner | None:
    """The partner's CRM generation inputs, or None without `generator` and `sources.crm`."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    crm_raw = (raw.get("sources") or {}).get("crm")
    if not raw.get("generator") or not crm_raw:
        return None
    where = f"{path.name} sources.crm"
    code = str(raw.get("code", path.stem))
    policy = raw.get("complaint_policy") or {}
    return CrmPartner(
        code=code,
        kind=str(raw.get("kind", "district")),
        crm=_crm_format(crm_raw, where),
        settings=_settings(raw["generator"].get("crm") or {}, code),
        policy_days=(int(policy.get("stage_1", 10)), int(policy.get("stage_2", 20))),
    )
