{#-
    Shared by the service-standard sources (voicemail, reception, web; docs/architecture.md,
    "Service-standard sources"): their staging reads the same lineage columns and localises
    timestamps as telephony and CRM do, and their validation resolves repeated ids as
    int_calls__validated does (first occurrence by file and row; a later copy with the same
    values from another delivery is excluded as already_delivered, any other repeat
    quarantined).
-#}

{#- The lineage columns of a raw table (alias `relation`), named as staging names them. -#}
{% macro raw_lineage(relation) -%}
    {{ relation }}._source_file as source_file,
    {{ relation }}._row_number as source_row_number,
    {{ relation }}._file_hash as file_hash,
    {{ relation }}._delivery_key as delivery_key,
    {{ relation }}._load_id as load_id,
    {{ relation }}._loaded_at as loaded_at
{%- endmacro %}

{#- A delivered timestamp parsed with its format and made local (partner timezone) when the
    partner delivers UTC; needs the columns timestamp_zone and timezone. -#}
{% macro local_timestamp(text_column, format_column) -%}
    case timestamp_zone
        when 'local' then {{ parse_timestamp(text_column, format_column) }}
        when 'utc' then {{ utc_to_local(parse_timestamp(text_column, format_column), 'timezone') }}
    end
{%- endmacro %}

{#- The rows' checks out of range: each timestamp of `columns` given and outside the sanity
    window (macro is_timestamp_out_of_range). -#}
{% macro any_timestamp_out_of_range(columns, loaded_at_column='loaded_at') -%}
    (
        {%- for column in columns %}
        coalesce({{ is_timestamp_out_of_range(column, loaded_at_column) }}, false)
        {%- if not loop.last %} or{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{#- CTEs `candidates`, `first_occurrences` and `statused` (each followed by a comma) over
    the CTE `checked` (columns partner_code, `id_column`, `row_id_column`, delivery_key,
    row_fingerprint, row_check_failure, exclusion_check, file_period_month, `event_at`,
    source_file, source_row_number) and, in an incremental build, the stored rows `kept`.
    `statused` adds quarantine_reason (the row's check, else `duplicate_reason` for a repeat
    that is not a re-sent copy), exclusion_reason (already_delivered, else exclusion_check),
    record_status (quarantined | excluded | valid), duplicate_of_row_id and period_month
    (the file's period, else the event's month unless its time did not parse). -#}
{% macro validated_rows(kept, id_column, row_id_column, duplicate_reason, event_at) -%}
candidates as (

    select
        partner_code,
        {{ id_column }},
        {{ row_id_column }},
        delivery_key,
        row_fingerprint,
        source_file,
        source_row_number
    from checked
    where row_check_failure is null
    {% if is_incremental() -%}
    union all
    select
        partner_code,
        {{ id_column }},
        {{ row_id_column }},
        delivery_key,
        row_fingerprint,
        source_file,
        source_row_number
    from {{ kept }}
    where
        row_check_failure is null
        and exists (
            select 1
            from checked
            where
                checked.partner_code = {{ kept }}.partner_code
                and checked.{{ id_column }} = {{ kept }}.{{ id_column }}
        )
    {%- endif %}

),

first_occurrences as (

    {{ first_occurrences_of_duplicates(
        'candidates', id_column, row_id_column, ['delivery_key', 'row_fingerprint']
    ) }}

),

resent as (

    select
        checked.*,
        case
            when checked.{{ row_id_column }} != first_occurrences.first_{{ row_id_column }}
                then first_occurrences.first_{{ row_id_column }}
        end as duplicate_of_row_id,
        coalesce(
            checked.row_check_failure is null
            and checked.{{ row_id_column }} != first_occurrences.first_{{ row_id_column }}
            and checked.delivery_key != first_occurrences.first_delivery_key
            and checked.row_fingerprint = first_occurrences.first_row_fingerprint,
            false
        ) as is_already_delivered
    from checked
    left join first_occurrences
        on
            checked.partner_code = first_occurrences.partner_code
            and checked.{{ id_column }} = first_occurrences.{{ id_column }}

),

reasoned as (

    select
        *,
        coalesce(
            row_check_failure,
            case
                when duplicate_of_row_id is not null and not is_already_delivered
                    then '{{ duplicate_reason }}'
            end
        ) as quarantine_reason
    from resent

),

statused as (

    select
        *,
        case
            when quarantine_reason is not null then 'quarantined'
            when is_already_delivered or exclusion_check is not null then 'excluded'
            else 'valid'
        end as record_status,
        case
            when quarantine_reason is not null then null
            when is_already_delivered then 'already_delivered'
            else exclusion_check
        end as exclusion_reason,
        coalesce(
            file_period_month,
            case
                when
                    quarantine_reason is null
                    or quarantine_reason not in ('bad_timestamp', 'timestamp_out_of_range')
                    then cast(date_trunc('month', {{ event_at }}) as date)
            end
        ) as period_month
    from reasoned

),
{%- endmacro %}

{#- The service-standard KPIs of a row of measures (kpi_service_standards_monthly;
    docs/kpi-definitions.md, "Service standards"). Null when the inputs were not delivered:
    a ratio over an empty denominator, a median of no response, visits of no web row, the
    self-service share without both web visits and CRM contacts. -#}
{% macro service_standard_kpi_figures() -%}
    {{ percentage('voicemails_in_policy', 'voicemails') }} as voicemail_in_policy_pct,
    round(median_response_seconds / 3600.0, 6) as voicemail_median_response_hours,
    {{ safe_divide('reception_wait_minutes', 'reception_tickets_called') }}
        as reception_wait_avg_minutes,
    {{ percentage('reception_seen_within_target', 'reception_tickets') }}
        as reception_seen_within_target_pct,
    {{ percentage('reception_walkouts', 'reception_tickets') }} as reception_walkout_pct,
    {{ percentage('web_poor_ratings', 'web_ratings') }} as web_poor_rating_pct,
    {{ percentage('web_visits', 'self_service_denominator') }} as self_service_share_pct
{%- endmacro %}

{#- Every source's stored row-level model: (source, model, the quarantine reason of a
    repeated id). The data-quality and delivery marts count their lines source by source. -#}
{% macro validated_sources() -%}
    {{ return([
        ('telephony', 'int_calls__validated', 'duplicate_call_id'),
        ('crm', 'int_contacts__validated', 'duplicate_enquiry_id'),
        ('voicemail', 'int_voicemails__validated', 'duplicate_voicemail_id'),
        ('reception', 'int_reception_tickets__validated', 'duplicate_ticket_id'),
        ('web', 'int_web_days__validated', 'duplicate_page_day'),
    ]) }}
{%- endmacro %}
