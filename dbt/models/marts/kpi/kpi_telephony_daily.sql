{#- Redone by partner and month (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_months('month', scope='int_build__scope_call_months') }}",
) }}
-- depends_on: {{ ref('int_build__scope_call_months') }}

with

calls as (

    select * from {{ ref('fct_calls') }}
    where {{ in_scoped_month(
        ref('fct_calls'), 'call_month', scope='int_build__scope_call_months'
    ) }}

),

queues as (

    select * from {{ ref('dim_queue') }}

),

measures as (

    select
        partner_code,
        call_date,
        call_month,
        queue_id,
        {{ telephony_call_measures() }}
    from calls
    group by partner_code, call_date, call_month, queue_id

),

final as (

    select
        measures.partner_code,
        measures.call_date,
        measures.call_month as month,
        measures.queue_id,
        queues.queue_name,
        queues.service_line_code,
        queues.service_line_name,
        measures.calls_total,
        measures.offered,
        measures.answered,
        measures.answered_within_threshold,
        measures.abandoned,
        measures.short_abandoned,
        measures.ivr_only,
        measures.direct_dial,
        measures.answered_known_wait,
        measures.answered_unknown_wait,
        measures.answered_wait_seconds,
        measures.answered_known_handle_time,
        measures.answered_handle_seconds,
        measures.out_of_hours_calls,
        {{ telephony_kpi_figures() }}
    from measures
    left join queues
        on measures.queue_id = queues.queue_id

)

select * from final
