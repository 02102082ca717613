"""The `raw` schema: table definitions and the partner-configuration tables."""

from __future__ import annotations

import duckdb

from dagster_project.partners import SOURCE_FIELDS, TIMESTAMP_FIELDS, WEEKDAYS, PartnerConfig

LINEAGE_COLUMNS = (
    "_source_file varchar, _file_hash varchar, _row_number bigint, _delivery_key varchar, "
    "_load_id varchar, _loaded_at timestamp"
)


# docs/crm.md: what raw.crm_contacts holds instead of the personal fields.
CRM_KEY_COLUMNS = ("customer_name_key", "phone_key", "email_key", "postcode_key", "uprn_key",
                   "name_postcode_key")
CRM_FLAG_COLUMNS = ("has_customer_name", "has_phone", "has_email", "has_postcode",
                    "is_phone_valid", "is_email_valid", "is_postcode_valid")


def source_fields(source: str) -> tuple[str, ...]:
    """The canonical fields stored as delivered text (personal fields are never stored)."""
    spec = SOURCE_FIELDS[source]
    personal = spec.get("personal", ())
    return tuple(f for f in spec["required"] + spec["optional"] if f not in personal)


def derived_columns(source: str) -> tuple[tuple[str, str], ...]:
    """(column, type) computed at load from the personal fields (crm), after the text fields."""
    if source != "crm":
        return ()
    return (tuple((c, "varchar") for c in CRM_KEY_COLUMNS)
            + tuple((c, "boolean") for c in CRM_FLAG_COLUMNS))


LOAD_FILES_ADDED = (("file_lines", "bigint"), ("quoted_line_breaks", "bigint"),
                    ("encoding", "varchar"), ("encoding_fallback", "boolean"),
                    ("file_mtime_ns", "bigint"))


def ensure_raw_schema(con: duckdb.DuckDBPyConnection, sources: tuple[str, ...]) -> None:
    """Create the raw tables if they do not exist yet (never drops data)."""
    con.execute("create schema if not exists raw")
    for source in sources:
        fields = ", ".join([f'"{f}" varchar' for f in source_fields(source)]
                           + [f'"{c}" {t}' for c, t in derived_columns(source)])
        con.execute(f"create table if not exists raw.{source}_{_entity(source)} "
                    f"(partner_code varchar, {fields}, {LINEAGE_COLUMNS})")
    con.execute("""
        create table if not exists raw.load_files (
            partner_code varchar, source varchar, delivery_key varchar, source_file varchar,
            file_hash varchar, file_bytes bigint, rows_read bigint, rows_loaded bigint,
            rows_rejected bigint, period_month date, load_id varchar, loaded_at timestamp,
            primary key (partner_code, source, delivery_key))
    """)
    # docs/architecture.md, "Line accounting" and "Encodings": the file's lines counted apart
    # from the reader, line breaks inside quoted fields, the encoding the file was decoded with
    # and whether that was the source's fallback; the file's modification time when it was
    # read ("Delivery rules", "Unchanged files") (added to older warehouses in place)
    for column, ctype in LOAD_FILES_ADDED:
        con.execute(f"alter table raw.load_files add column if not exists {column} {ctype}")
    con.execute("""
        create table if not exists raw.load_events (
            load_id varchar, event_at timestamp, partner_code varchar, source varchar,
            source_file varchar, file_hash varchar, delivery_key varchar, period_month date,
            status varchar, rows_loaded bigint, rows_rejected bigint, message varchar)
    """)
    con.execute("""
        create table if not exists raw.rejected_rows (
            partner_code varchar, source varchar, _source_file varchar, _file_hash varchar,
            _row_number bigint, _delivery_key varchar, reason varchar, raw_line varchar,
            _load_id varchar, _loaded_at timestamp)
    """)


def _entity(source: str) -> str:
    return SOURCE_FIELDS[source]["entity"]


def raw_table(source: str) -> str:
    """The raw table that holds one source's rows, e.g. `raw.telephony_calls`."""
    return f"raw.{source}_{_entity(source)}"


# The raw.partner_* tables write_partner_config rewrites (a partner's rows in them are its
# configuration: build_scope.py fingerprints them).
CONFIG_TABLES = ("partners", "partner_opening_hours", "partner_sources",
                 "partner_outcome_codes", "partner_queues", "partner_crm_codes",
                 "partner_crm_services", "partner_complaint_policy", "partner_services")


def write_partner_config(con: duckdb.DuckDBPyConnection,
                         partners: dict[str, PartnerConfig]) -> dict[str, int]:
    """Rewrite the raw.partner_* tables from the YAML configuration; returns row counts."""
    con.execute("create schema if not exists raw")
    tables: dict[str, tuple[str, list[tuple]]] = {
        "partners": ("partner_code varchar, partner_name varchar, partner_kind varchar, "
                     "is_fictional boolean, timezone varchar, expects_deliveries boolean, "
                     "partner_family varchar", []),
        "partner_opening_hours": ("partner_code varchar, iso_dow integer, opens_at varchar, "
                                  "closes_at varchar", []),
        "partner_sources": ("partner_code varchar, source varchar, timestamp_format varchar, "
                            "timestamp_zone varchar, wait_format varchar, talk_format varchar, "
                            "hold_format varchar, wrap_format varchar, "
                            + "".join(f"{c}_format varchar, " for c in TIMESTAMP_FIELDS)
                            + "wait_max_seconds integer, talk_max_seconds integer, "
                            "hold_max_seconds integer, wrap_max_seconds integer, "
                            "target_wait_minutes integer", []),
        "partner_outcome_codes": ("partner_code varchar, source varchar, outcome_code varchar, "
                                  "outcome varchar", []),
        "partner_queues": ("partner_code varchar, queue_name varchar, "
                           "service_line_code varchar", []),
        "partner_crm_codes": ("partner_code varchar, field varchar, code varchar, "
                              "canonical varchar", []),
        "partner_crm_services": ("partner_code varchar, service_name varchar, "
                                 "service_line_code varchar", []),
        "partner_complaint_policy": ("partner_code varchar, feedback_stage integer, "
                                     "response_working_days integer", []),
        # the service maps of the service-standard sources (voicemail, reception, web)
        "partner_services": ("partner_code varchar, source varchar, service_name varchar, "
                             "service_line_code varchar", []),
    }
    for p in partners.values():
        tables["partners"][1].append((p.code, p.name, p.kind, p.is_fictional, p.timezone,
                                      p.expects_deliveries, p.benchmark_family))
        for day, (opens, closes) in p.opening_hours.items():
            tables["partner_opening_hours"][1].append(
                (p.code, WEEKDAYS.index(day) + 1, opens, closes))
        for name, s in p.sources.items():
            d, f, m = s.duration_formats, s.column_timestamp_formats, s.max_durations
            tables["partner_sources"][1].append(
                (p.code, name, s.timestamp_format, s.timestamp_zone, d.get("wait"),
                 d.get("talk"), d.get("hold"), d.get("wrap"),
                 *(f.get(c) for c in TIMESTAMP_FIELDS),
                 *(m.get(c) for c in ("wait", "talk", "hold", "wrap")),
                 s.target_wait_minutes))
            tables["partner_outcome_codes"][1].extend(
                (p.code, name, code, outcome) for code, outcome in s.codes.items())
            tables["partner_queues"][1].extend(
                (p.code, queue, line) for queue, line in s.queues.items())
            for fld, codes in s.field_codes.items():
                tables["partner_crm_codes"][1].extend(
                    (p.code, fld, code, canonical) for code, canonical in codes.items())
            if name == "crm":
                tables["partner_crm_services"][1].extend(
                    (p.code, service, line) for service, line in s.services.items())
            else:
                tables["partner_services"][1].extend(
                    (p.code, name, service, line) for service, line in s.services.items())
        tables["partner_complaint_policy"][1].extend(
            (p.code, stage, days) for stage, days in sorted(p.complaint_policy.items()))
    counts = {}
    con.execute("begin transaction")
    try:
        for name, (ddl, rows) in tables.items():
            con.execute(f"create or replace table raw.{name} ({ddl})")
            if rows:
                _insert_rows(con, f"raw.{name}", rows)
            counts[name] = len(rows)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return counts


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Insert `rows` (tuples in the table's column order) by one statement, each column bound
    as one list parameter and unnested: `executemany` runs one insert per row (about 6 s for
    400 partners' configuration, at every build), and an Arrow table of the rows made pyarrow
    import pandas (about 0.3 CPU-second of every build: docs/benchmarks-journal.md, "pandas'
    import in every load")."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    con.execute(f"insert into {table} select {', '.join('unnest(?)' for _ in columns)}",
                columns)


# The tables of delivered rows, one per source: they stay in the working file (publish.py).
ROW_TABLES = tuple(raw_table(source) for source in SOURCE_FIELDS)
