{#- Redone by delivery (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('direct_dial') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

calls as (

    select * from {{ ref('stg_direct_dial__calls') }}
    where {{ in_scoped_delivery('direct_dial', ref('stg_direct_dial__calls')) }}

),

{% if is_incremental() -%}
kept_calls as (

    -- rows of the deliveries this build does not redo (the pre-hook deleted the others)
    select * from {{ this }}

),

{% endif -%}

load_files as (

    select * from {{ ref('stg_loads__files') }}
    where source = 'direct_dial'

),

checked as (

    select
        calls.*,
        load_files.period_month as file_period_month,
        case
            when
                calls.source_call_id is null
                or calls.started_at_text is null
                then 'missing_key'
            when calls.has_control_character then 'control_character'
            when calls.started_at is null then 'bad_timestamp'
            when {{ any_timestamp_out_of_range(['calls.started_at'], 'calls.loaded_at') }}
                then 'timestamp_out_of_range'
        end as row_check_failure,
        case when calls.is_service_excluded then 'excluded_service' end as exclusion_check,
        {{ row_fingerprint(['calls.started_at', 'calls.service_name']) }} as row_fingerprint
    from calls
    left join load_files
        on
            calls.partner_code = load_files.partner_code
            and calls.delivery_key = load_files.delivery_key

),

{{ validated_rows(
    'kept_calls', 'source_call_id', 'direct_dial_row_id', 'duplicate_call_id', 'started_at'
) }}

final as (

    select
        direct_dial_row_id,
        partner_code,
        source_call_id,
        started_at,
        service_name,
        service_line_code,
        call_id_text,
        started_at_text,
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
