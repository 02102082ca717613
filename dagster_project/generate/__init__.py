"""Sample-data generator: realistic, deterministic telephony landing files from a queue simulation.

`generate_sample` writes every fictional partner's files (partners with a `generator:` block in
`seeds/partners/*.yml`) in that partner's declared format and copies the real fixture tree
`seeds/realdata/`. No Dagster imports here: the `hub generate` command calls it directly.

Modules: `spec` (partner YAML), `closures` (opening hours, bank holidays), `local_time` (clock
changes), `demand` (arrival rates), `staffing` (agents per half-hour), `simulation` (queue),
`writers` (file formats), `sample` (orchestration and report), `bank_holidays` (reference CSV).

CRM extracts (partners with `sources.crm`, docs/crm.md): `crm_spec` (YAML), `customers` (the
shared synthetic population), `crm` (contacts from the simulated calls and other channels),
`crm_dirt` (dirt kept for the KPIs and dirt for the quarantine), `crm_writers` (csv / JSON lines).
"""

from .sample import GenerateReport, PartnerOutput, generate_sample

__all__ = ["GenerateReport", "PartnerOutput", "generate_sample"]
