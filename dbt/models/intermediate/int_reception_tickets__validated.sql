{#- Redone by delivery (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('reception') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

tickets as (

    select * from {{ ref('stg_reception__tickets') }}
    where {{ in_scoped_delivery('reception', ref('stg_reception__tickets')) }}

),

{% if is_incremental() -%}
kept_tickets as (

    -- rows of the deliveries this build does not redo (the pre-hook deleted the others)
    select * from {{ this }}

),

{% endif -%}

load_files as (

    select * from {{ ref('stg_loads__files') }}
    where source = 'reception'

),

checked as (

    select
        tickets.*,
        load_files.period_month as file_period_month,
        case
            when
                tickets.source_ticket_id is null
                or tickets.issued_at_text is null
                then 'missing_key'
            when tickets.has_control_character then 'control_character'
            when
                tickets.issued_at is null
                or (tickets.called_at_text is not null and tickets.called_at is null)
                or (tickets.finished_at_text is not null and tickets.finished_at is null)
                then 'bad_timestamp'
            when {{ any_timestamp_out_of_range(
                ['tickets.issued_at', 'tickets.called_at', 'tickets.finished_at'],
                'tickets.loaded_at'
            ) }}
                then 'timestamp_out_of_range'
            when
                tickets.called_at < tickets.issued_at
                or tickets.finished_at < coalesce(tickets.called_at, tickets.issued_at)
                then 'timestamps_out_of_order'
        end as row_check_failure,
        case when tickets.is_service_excluded then 'excluded_service' end as exclusion_check,
        {{ row_fingerprint([
            'tickets.issued_at', 'tickets.called_at', 'tickets.finished_at',
            'tickets.service_name',
        ]) }} as row_fingerprint
    from tickets
    left join load_files
        on
            tickets.partner_code = load_files.partner_code
            and tickets.delivery_key = load_files.delivery_key

),

{{ validated_rows(
    'kept_tickets', 'source_ticket_id', 'ticket_row_id', 'duplicate_ticket_id', 'issued_at'
) }}

final as (

    select
        ticket_row_id,
        partner_code,
        source_ticket_id,
        issued_at,
        called_at,
        finished_at,
        service_name,
        service_line_code,
        target_wait_minutes,
        ticket_id_text,
        issued_at_text,
        called_at_text,
        finished_at_text,
        row_check_failure,
        quarantine_reason,
        exclusion_reason,
        record_status,
        duplicate_of_row_id,
        row_fingerprint,
        period_month,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from statused

)

select * from final
