{#- Redone by delivery (docs/architecture.md, "Incremental builds"). One row per valid call of
    a partner's direct-dial extract; docs/kpi-definitions.md, "A separate direct-dial
    extract". No extension, no caller data. -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('direct_dial') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

calls as (

    select * from {{ ref('int_direct_dial_calls__validated') }}
    where
        record_status = 'valid'
        and {{ in_scoped_delivery('direct_dial', ref('int_direct_dial_calls__validated')) }}

),

keyed as (

    select
        calls.*,
        cast(calls.started_at as date) as call_date,
        cast(date_trunc('month', calls.started_at) as date) as call_month,
        calls.partner_code || ':' || calls.source_call_id as direct_dial_call_id
    from calls

),

final as (

    select
        direct_dial_call_id,
        partner_code,
        source_call_id,
        service_line_code,
        started_at,
        call_date,
        call_month,
        period_month,
        source_file,
        source_row_number,
        delivery_key,
        load_id
    from keyed

)

select * from final
