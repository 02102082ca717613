{#- Redone by delivery (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('telephony') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

calls as (

    select * from {{ ref('int_calls__classified') }}
    where {{ in_scoped_delivery('telephony', ref('int_calls__classified')) }}

),

queues as (

    select * from {{ ref('dim_queue') }}

),

final as (

    select
        calls.call_id,
        calls.partner_code,
        calls.source_call_id,
        calls.queue_id,
        queues.service_line_code,
        calls.started_at,
        calls.call_date,
        calls.call_month,
        calls.call_hour,
        calls.iso_dow,
        calls.is_weekend,
        calls.is_bank_holiday,
        calls.is_out_of_hours,
        calls.outcome,
        calls.is_offered,
        calls.is_answered,
        calls.is_abandoned,
        calls.is_short_abandon,
        calls.is_ivr_only,
        calls.is_direct_dial,
        calls.has_known_wait,
        calls.wait_seconds,
        calls.is_answered_within_threshold,
        calls.talk_seconds,
        calls.hold_seconds,
        calls.wrap_seconds,
        calls.handle_seconds,
        calls.has_known_handle_time,
        calls.source_file,
        calls.source_row_number,
        calls.delivery_key,
        calls.load_id
    from calls
    left join queues
        on calls.queue_id = queues.queue_id

)

select * from final
