"""Per source, the dbt models and columns the Python side reads (build scope, `hub check`,
the build summary, the Dagster assets): one table instead of a dict per module. The source's
fields are in `partners.SOURCE_FIELDS`; its raw table is `raw.<source>_<entity>`. No Dagster
imports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceModels:
    source: str
    label: str  # how messages name it
    rows: str  # what one row is, plural ("calls")
    validated: str  # the stored row-level model: one row per raw row, with its record_status
    # the row's id as raw text: a SQL expression over the raw table aliased `{r}`; the
    # validated model's `stored_id` column holds the same text
    raw_id: str
    stored_id: str
    event_at: str  # the validated model's event time (its month is the row's month)
    quarantine: str  # quality view of the quarantined rows (quarantine_reason)
    excluded: str  # quality view of the excluded rows (exclusion_reason)
    fact: str  # the valid rows' fact
    # `hub check`: what dbt builds, the columns shown of quarantined and of mapped rows
    check_select: tuple[str, ...]
    example_columns: tuple[str, ...]
    mapped_columns: tuple[str, ...]


def _trimmed(column: str) -> str:
    return f"nullif(trim({{r}}.{column}), '')"


SOURCE_MODELS = {m.source: m for m in (
    SourceModels(
        "telephony", "telephony", "calls", "intermediate.int_calls__validated",
        _trimmed("call_id"), "source_call_id", "started_at", "quality.quarantine_calls",
        "quality.excluded_calls", "marts.fct_calls",
        ("+kpi_telephony_monthly", "+quarantine_calls", "+excluded_calls"),
        ("call_id_text", "started_at_text", "outcome_code", "queue_name", "wait_text",
         "talk_text"),
        ("source_call_id", "started_at", "outcome", "queue_id", "service_line_code",
         "wait_seconds", "talk_seconds")),
    SourceModels(
        "crm", "CRM", "contacts", "intermediate.int_contacts__validated",
        _trimmed("enquiry_id"), "enquiry_id", "created_at", "quality.quarantine_contacts",
        "quality.excluded_contacts", "marts.fct_contacts",
        ("+kpi_scorecard", "+quarantine_contacts", "+excluded_contacts"),
        ("enquiry_id_text", "created_at_text", "channel_text", "service_name",
         "avoidable_reason_text", "feedback_type_text", "satisfaction_text"),
        ("enquiry_id", "created_at", "channel_code", "service_line_code",
         "is_resolved_first_contact", "avoidable_category", "feedback_type")),
    SourceModels(
        "voicemail", "voicemail", "voicemails", "intermediate.int_voicemails__validated",
        _trimmed("voicemail_id"), "source_voicemail_id", "left_at",
        "quality.quarantine_voicemails", "quality.excluded_voicemails", "marts.fct_voicemails",
        ("+kpi_service_standards_monthly", "+quarantine_voicemails", "+excluded_voicemails"),
        ("voicemail_id_text", "left_at_text", "responded_at_text", "service_name"),
        ("source_voicemail_id", "left_at", "responded_at", "service_line_code",
         "response_hours", "is_responded_in_policy")),
    SourceModels(
        "reception", "reception", "tickets", "intermediate.int_reception_tickets__validated",
        _trimmed("ticket_id"), "source_ticket_id", "issued_at",
        "quality.quarantine_reception_tickets", "quality.excluded_reception_tickets",
        "marts.fct_reception_tickets",
        ("+kpi_service_standards_monthly", "+quarantine_reception_tickets",
         "+excluded_reception_tickets"),
        ("ticket_id_text", "issued_at_text", "called_at_text", "finished_at_text",
         "service_name"),
        ("source_ticket_id", "issued_at", "called_at", "service_line_code", "wait_minutes",
         "is_walkout")),
    SourceModels(
        "web", "web", "page days", "intermediate.int_web_days__validated",
        "nullif(trim({r}.visit_date), '') || '|' || nullif(trim({r}.page), '')",
        "page_day_key", "visit_date", "quality.quarantine_web_days",
        "quality.excluded_web_days", "marts.fct_web_days",
        ("+kpi_service_standards_monthly", "+quarantine_web_days", "+excluded_web_days"),
        ("visit_date_text", "page_name", "visits_text", "ratings_good_text",
         "ratings_neutral_text", "ratings_poor_text"),
        ("visit_date", "page_id", "service_line_code", "visits", "ratings_good",
         "ratings_poor")),
)}
