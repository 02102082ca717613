{#- Redone by delivery (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('voicemail') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

messages as (

    select * from {{ ref('stg_voicemail__messages') }}
    where {{ in_scoped_delivery('voicemail', ref('stg_voicemail__messages')) }}

),

{% if is_incremental() -%}
kept_messages as (

    -- rows of the deliveries this build does not redo (the pre-hook deleted the others)
    select * from {{ this }}

),

{% endif -%}

load_files as (

    select * from {{ ref('stg_loads__files') }}
    where source = 'voicemail'

),

checked as (

    select
        messages.*,
        load_files.period_month as file_period_month,
        case
            when
                messages.source_voicemail_id is null
                or messages.left_at_text is null
                then 'missing_key'
            when messages.has_control_character then 'control_character'
            when
                messages.left_at is null
                or (messages.responded_at_text is not null and messages.responded_at is null)
                then 'bad_timestamp'
            when {{ any_timestamp_out_of_range(
                ['messages.left_at', 'messages.responded_at'], 'messages.loaded_at'
            ) }}
                then 'timestamp_out_of_range'
            when messages.responded_at < messages.left_at then 'responded_before_left'
        end as row_check_failure,
        case when messages.is_service_excluded then 'excluded_service' end as exclusion_check,
        {{ row_fingerprint([
            'messages.left_at', 'messages.responded_at', 'messages.service_name',
        ]) }} as row_fingerprint
    from messages
    left join load_files
        on
            messages.partner_code = load_files.partner_code
            and messages.delivery_key = load_files.delivery_key

),

{{ validated_rows(
    'kept_messages', 'source_voicemail_id', 'voicemail_row_id', 'duplicate_voicemail_id',
    'left_at'
) }}

final as (

    select
        voicemail_row_id,
        partner_code,
        source_voicemail_id,
        left_at,
        responded_at,
        service_name,
        service_line_code,
        voicemail_id_text,
        left_at_text,
        responded_at_text,
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
