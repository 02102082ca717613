"""Which partner-months a build must redo: the plan handed to dbt (docs/architecture.md,
"Incremental builds"). Plain Python over the working DuckDB file; no Dagster imports.

A build compares what is loaded now with what the last *published* build was made from:

- deliveries (`raw.load_files`: partner, source, delivery key, file hash) against
  `build.built_deliveries`: new, replaced (another hash) and withdrawn deliveries change;
- each partner's configuration (its rows in `raw.partner_*`) against
  `build.built_fingerprints`: a partner whose configuration changed has every delivery redone;
- the dbt project and reference seeds (a hash of their files): any change means a full build,
  as does a first build, a removed partner or `--full-refresh`.

Deliveries sharing a call or enquiry id with a changed delivery are redone too (which copy of a
duplicated id is kept depends on all of them). The months the *previous* version of those rows
fell in are recorded (`build.scope_months`) before dbt replaces them, so a month a
re-delivery no longer covers is recomputed as well; the new rows' months are added inside dbt
(`int_build__scope_months`).

The plan is written to `build.scope_deliveries`, `build.scope_months`,
`build.scope_partners`, `build.scope_customers` and `build.plan`; dbt reads them through
`staging/build`. After a successful publication `record_built` makes the current state the
new baseline; a build that fails leaves the baseline as it was, and the next build is a full
one (the failed one may have updated some tables and not others).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.ingest.raw_tables import CONFIG_TABLES, raw_table
from dagster_project.source_models import SOURCE_MODELS

# The dbt project files whose change invalidates every stored row (a full build).
PROJECT_GLOBS = ("dbt/models/**/*", "dbt/macros/**/*", "dbt/dbt_project.yml",
                 "seeds/reference/*")
# What must exist for an incremental build (else: full).
STORED = (*(m.validated for m in SOURCE_MODELS.values()),
          *(m.fact for m in SOURCE_MODELS.values()),
          "intermediate.int_customers__resolved", "marts.fct_complaints",
          "marts.kpi_service_standards_monthly", "marts.kpi_scorecard")


DELIVERIES_CHANGED = "changed deliveries"  # the reason of an incremental build, no YAML changed


@dataclass
class BuildPlan:
    build_id: str
    mode: str  # full | incremental | none
    reason: str
    changes: dict[str, int] = field(default_factory=dict)  # new/replaced/withdrawn/... counts
    partner_months: int = 0
    reconfigured: tuple[str, ...] = ()  # partners whose configuration changed

    @property
    def dbt_selector(self) -> str | None:
        """The selector of `dbt/selectors.yml` an incremental build runs (None: every node).
        Views and seeds depend only on the project, which is unchanged (else a full build);
        models reading only configuration and seeds are left out too unless a partner's
        configuration changed. docs/architecture.md, "What a build costs"."""
        if self.mode != "incremental":
            return None
        return "incremental_reconfigured" if self.reconfigured else "incremental_deliveries"

    @property
    def nothing_to_do(self) -> bool:
        return self.mode == "none"

    def summary(self) -> str:
        if self.mode == "none":
            return "nothing new since the last published build: no dbt work, nothing published"
        if self.mode == "full":
            return f"full build ({self.reason})"
        parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in self.changes.items() if n)
        configured = "" if self.reason == DELIVERIES_CHANGED else f"; {self.reason}"
        return (f"incremental build: deliveries {parts or 'unchanged'}{configured}; "
                f"{self.partner_months} partner-months recomputed")


def project_fingerprint(home: Path) -> str:
    digest = hashlib.sha256()
    files = sorted({p for pattern in PROJECT_GLOBS for p in home.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(str(path.relative_to(home)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _partner_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    parts: dict[str, list[str]] = {}
    for table in CONFIG_TABLES:
        if not _exists(con, f"raw.{table}"):
            continue
        rows = con.execute(
            f"select partner_code, md5(string_agg(cast(t as varchar), '|' "
            f"order by cast(t as varchar))) from raw.{table} as t group by partner_code"
        ).fetchall()
        for code, digest in rows:
            parts.setdefault(code, []).append(f"{table}:{digest}")
    return {code: hashlib.sha256(";".join(sorted(v)).encode()).hexdigest()
            for code, v in parts.items()}


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name = ?", [schema, name]).fetchone()[0])


def ensure_build_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists build")
    con.execute("create table if not exists build.built_deliveries (partner_code varchar, "
                "source varchar, delivery_key varchar, file_hash varchar)")
    con.execute("create table if not exists build.built_fingerprints (scope_key varchar, "
                "fingerprint varchar)")
    con.execute("create or replace table build.scope_deliveries (partner_code varchar, "
                "source varchar, delivery_key varchar, change varchar)")
    con.execute("create or replace table build.scope_months (partner_code varchar, "
                "source varchar, month date)")
    con.execute("create or replace table build.scope_partners (partner_code varchar, "
                "source varchar, previous_latest_at timestamp)")
    con.execute("create or replace table build.scope_customers (customer_id varchar)")
    con.execute("create table if not exists build.plan (build_id varchar, mode varchar, "
                "reason varchar, published boolean)")


def _full(con: duckdb.DuckDBPyConnection, build_id: str, reason: str) -> BuildPlan:
    con.execute("insert into build.plan values (?, 'full', ?, false)", [build_id, reason])
    return BuildPlan(build_id, "full", reason)


def current_plan(con: duckdb.DuckDBPyConnection) -> BuildPlan | None:
    if not _exists(con, "build.plan"):
        return None
    row = con.execute("select build_id, mode, reason from build.plan").fetchone()
    if not row:
        return None
    plan = BuildPlan(*row)
    if plan.mode == "incremental":
        plan.changes = _changes(con)
        if _exists(con, "intermediate.int_build__scope_months"):
            # what dbt redid: the months of the previous and the new rows, and their neighbours
            plan.partner_months = con.execute(
                "select count(*) from intermediate.int_build__scope_months").fetchone()[0]
    return plan


CHANGE_ORDER = ("new", "replaced", "withdrawn", "reconfigured", "shares_an_id")


def _changes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = dict(con.execute(
        "select change, count(*) from build.scope_deliveries group by change").fetchall())
    return {k: counts.get(k, 0) for k in CHANGE_ORDER}


def plan_build(con: duckdb.DuckDBPyConnection, home: Path,
               full_refresh: bool = False) -> BuildPlan:
    """Write the plan of the next dbt build into the `build` schema and return it."""
    previous = (con.execute("select mode, published from build.plan").fetchone()
                if _exists(con, "build.plan") else None)
    ensure_build_schema(con)
    con.execute("delete from build.plan")
    build_id = uuid.uuid4().hex
    built = dict(con.execute("select scope_key, fingerprint from build.built_fingerprints")
                 .fetchall())
    partners = _partner_fingerprints(con)
    if full_refresh:
        return _full(con, build_id, "--full-refresh")
    if not built:
        return _full(con, build_id, "first build")
    if previous and previous[0] != "none" and not previous[1]:
        # its tables may be half updated: the months it found are not known any more
        return _full(con, build_id, "the previous build did not finish")
    missing = [t for t in STORED if not _exists(con, t)]
    if missing:
        return _full(con, build_id, f"{missing[0]} is missing")
    if built.get("project") != project_fingerprint(home):
        return _full(con, build_id, "the dbt project or reference seeds changed")
    removed = sorted(k.removeprefix("partner:") for k in built
                     if k.startswith("partner:") and k.removeprefix("partner:") not in partners)
    if removed:
        return _full(con, build_id, f"partner(s) removed: {', '.join(removed)}")
    reconfigured = [code for code, fp in partners.items() if built.get(f"partner:{code}") != fp]

    con.execute("""
        create or replace temp table _current as
        select partner_code, source, delivery_key, file_hash from raw.load_files
    """)
    con.execute("""
        insert into build.scope_deliveries
        select
            coalesce(c.partner_code, b.partner_code), coalesce(c.source, b.source),
            coalesce(c.delivery_key, b.delivery_key),
            case when b.file_hash is null then 'new' when c.file_hash is null then 'withdrawn'
                 else 'replaced' end
        from _current as c
        full outer join build.built_deliveries as b
            on c.partner_code = b.partner_code and c.source = b.source
            and c.delivery_key = b.delivery_key
        where c.file_hash is distinct from b.file_hash
    """)
    if reconfigured:
        con.execute("""
            insert into build.scope_deliveries
            select partner_code, source, delivery_key, 'reconfigured'
            from (select partner_code, source, delivery_key from _current
                  union select partner_code, source, delivery_key from build.built_deliveries)
            where list_contains(?, partner_code)
              and (partner_code, source, delivery_key) not in
                  (select partner_code, source, delivery_key from build.scope_deliveries)
        """, [reconfigured])
    for source, models in SOURCE_MODELS.items():
        # deliveries holding an id that a changed delivery holds (before or after the change)
        raw, stored, stored_id = raw_table(source), models.validated, models.stored_id
        raw_id = models.raw_id.format(r="r")
        con.execute(f"""
            insert into build.scope_deliveries
            with scoped as (
                select partner_code, delivery_key from build.scope_deliveries
                where source = '{source}'
            ),
            ids as (
                select r.partner_code, {raw_id} as id
                from {raw} as r
                inner join scoped
                    on r.partner_code = scoped.partner_code
                    and r._delivery_key = scoped.delivery_key
                union
                select s.partner_code, s.{stored_id}
                from {stored} as s
                inner join scoped
                    on s.partner_code = scoped.partner_code
                    and s.delivery_key = scoped.delivery_key
            )
            select distinct r.partner_code, '{source}', r._delivery_key, 'shares_an_id'
            from {raw} as r
            inner join ids
                on r.partner_code = ids.partner_code
                and {raw_id} = ids.id
            where (r.partner_code, r._delivery_key) not in (select * from scoped)
        """)
    for source, models in SOURCE_MODELS.items():
        # the months the previous version of every redone row fell in
        stored, event_at = models.validated, models.event_at
        con.execute(f"""
            insert into build.scope_months
            with previous as (
                select s.partner_code, s.period_month, s.{event_at}
                from {stored} as s
                inner join build.scope_deliveries as d
                    on s.partner_code = d.partner_code and s.delivery_key = d.delivery_key
                    and d.source = '{source}'
            )
            select partner_code, '{source}', period_month from previous
            where period_month is not null
            union
            select partner_code, '{source}', cast(date_trunc('month', {event_at}) as date)
            from previous where {event_at} is not null
        """)
    # the stored contacts of the redone CRM deliveries, as the previous build left them
    con.execute("""
        create or replace temp view _redone_contacts as
        select contact.contact_id
        from intermediate.int_contacts__validated as contact
        inner join build.scope_deliveries as d
            on contact.partner_code = d.partner_code
            and contact.delivery_key = d.delivery_key and d.source = 'crm'
    """)
    # complaints up to a year after a redone complaint may change repeat-complainant status
    con.execute("""
        insert into build.scope_months
        with redone as (
            select complaint.customer_id, complaint.received_date
            from marts.fct_complaints as complaint
            inner join _redone_contacts as contact
                on complaint.contact_id = contact.contact_id
            where complaint.feedback_type = 'complaint' and complaint.customer_id is not null
        )
        select distinct later.partner_code, 'crm', later.received_month
        from marts.fct_complaints as later
        inner join redone
            on later.customer_id = redone.customer_id
            and later.received_date > redone.received_date
            and later.received_date <= redone.received_date + interval 365 day
        where later.feedback_type = 'complaint'
    """)
    # the customers of the redone contacts, as they were: their aggregates and flags change
    con.execute("""
        insert into build.scope_customers
        select distinct customer.customer_id
        from intermediate.int_customers__resolved as customer
        inner join _redone_contacts as contact
            on customer.contact_id = contact.contact_id
        where customer.customer_id is not null
    """)
    con.execute("""
        insert into build.scope_partners
        select partner_code, 'crm', max(created_at) from marts.fct_contacts
        where partner_code in (select partner_code from build.scope_deliveries
                               where source = 'crm')
        group by partner_code
    """)
    changes = _changes(con)
    if not any(changes.values()) and not reconfigured:
        con.execute("insert into build.plan values (?, 'none', 'nothing changed', false)",
                    [build_id])
        return BuildPlan(build_id, "none", "nothing changed")
    reason = (DELIVERIES_CHANGED if not reconfigured else
              f"configuration changed: {', '.join(sorted(reconfigured))}")
    con.execute("insert into build.plan values (?, 'incremental', ?, false)", [build_id, reason])
    months = con.execute("select count(*) from (select distinct partner_code, month "
                         "from build.scope_months)").fetchone()[0]
    return BuildPlan(build_id, "incremental", reason, changes, months,
                     tuple(sorted(reconfigured)))


def record_built(con: duckdb.DuckDBPyConnection, home: Path) -> None:
    """After a successful publication: the current deliveries and configuration become the
    baseline the next build compares with."""
    con.execute("begin transaction")
    con.execute("update build.plan set published = true")
    con.execute("delete from build.built_deliveries")
    con.execute("insert into build.built_deliveries select partner_code, source, delivery_key, "
                "file_hash from raw.load_files")
    con.execute("delete from build.built_fingerprints")
    con.execute("insert into build.built_fingerprints values ('project', ?)",
                [project_fingerprint(home)])
    for code, fp in _partner_fingerprints(con).items():
        con.execute("insert into build.built_fingerprints values (?, ?)", [f"partner:{code}", fp])
    con.execute("commit")
