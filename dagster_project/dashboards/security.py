"""Who may see what in Superset, derived from the partner configuration (no Superset import).

- `Admin`: everything (Superset's own role).
- `HubBoard`: every dashboard, every partner, no SQL Lab.
- `Partner_<code>`: its partner's rows only (row-level security on every dataset with a
  `partner_code` column), the partner report, data-quality, channels-and-cost,
  customer-experience and service-standards dashboards, no SQL Lab (row-level security does not
  apply there). Datasets of tables spanning partners without a `partner_code` column (e.g.
  `dim_customer`) must not be provisioned at all: partner roles may read every provisioned
  dataset.
- `Explorer`: SQL Lab over the `marts` schema only (never `raw`, `quality` or `staging`), the
  datasets of `marts`, every dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

BOARD_ROLE = "HubBoard"
EXPLORER_ROLE = "Explorer"
EXPLORER_SCHEMA = "marts"
PARTNER_COLUMN = "partner_code"
PARTNER_ROLE_PREFIX = "Partner_"

# Dashboards (by slug) each kind of role is granted. Admin sees all.
CONTACT_DASHBOARDS = ("channels-cost", "customer-experience")
SERVICE_DASHBOARDS = ("service-standards",)
BOARD_DASHBOARDS = ("hub-board", "partner-report", "data-quality", *CONTACT_DASHBOARDS,
                    *SERVICE_DASHBOARDS)
PARTNER_DASHBOARDS = ("partner-report", "data-quality", *CONTACT_DASHBOARDS, *SERVICE_DASHBOARDS)
EXPLORER_DASHBOARDS = BOARD_DASHBOARDS


def partner_role(partner_code: str) -> str:
    return f"{PARTNER_ROLE_PREFIX}{partner_code}"


def partner_user(partner_code: str) -> str:
    return f"partner_{partner_code}"


def rls_clause(partner_code: str) -> str:
    """The row filter of a partner role. Partner codes are validated as [a-z0-9_]+ on load."""
    if not partner_code.replace("_", "").isalnum() or not partner_code.islower():
        raise ValueError(f"partner code {partner_code!r} is not [a-z0-9_]+")
    return f"{PARTNER_COLUMN} = '{partner_code}'"


@dataclass(frozen=True)
class RoleSpec:
    name: str
    dashboards: tuple[str, ...]
    sql_lab: bool = False
    all_datasets: bool = False
    schemas: tuple[str, ...] = ()
    partner_code: str | None = None


@dataclass(frozen=True)
class UserSpec:
    username: str
    role: str
    first_name: str
    last_name: str


def role_specs(partner_codes: list[str]) -> list[RoleSpec]:
    specs = [
        RoleSpec(BOARD_ROLE, BOARD_DASHBOARDS, all_datasets=True),
        RoleSpec(EXPLORER_ROLE, EXPLORER_DASHBOARDS, sql_lab=True, schemas=(EXPLORER_SCHEMA,)),
    ]
    specs += [RoleSpec(partner_role(code), PARTNER_DASHBOARDS, all_datasets=True,
                       partner_code=code) for code in sorted(partner_codes)]
    return specs


def demo_users(partner_codes: list[str]) -> list[UserSpec]:
    """Users the demo bootstrap creates (never in production mode)."""
    users = [UserSpec("board", BOARD_ROLE, "Hub", "Board"),
             UserSpec("explorer", EXPLORER_ROLE, "Data", "Explorer")]
    users += [UserSpec(partner_user(code), partner_role(code), "Partner", code)
              for code in sorted(partner_codes)]
    return users
