{#- Redone by delivery (docs/architecture.md, "Incremental builds"). One row per valid
    reception ticket; docs/kpi-definitions.md, "Service standards". -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('reception') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

tickets as (

    select * from {{ ref('int_reception_tickets__validated') }}
    where
        record_status = 'valid'
        and {{ in_scoped_delivery('reception', ref('int_reception_tickets__validated')) }}

),

timed as (

    select
        *,
        partner_code || ':' || source_ticket_id as ticket_id,
        {{ seconds_between('issued_at', 'called_at') }} as wait_seconds,
        cast(issued_at as date) as issued_date,
        cast(date_trunc('month', issued_at) as date) as issued_month,
        called_at is null as is_walkout
    from tickets

),

measured as (

    select
        *,
        cast(wait_seconds as decimal(18, 6)) / 60 as wait_minutes,
        coalesce(wait_seconds <= target_wait_minutes * 60, false) as is_seen_within_target
    from timed

),

final as (

    select
        ticket_id,
        partner_code,
        source_ticket_id,
        service_line_code,
        issued_at,
        issued_date,
        issued_month,
        called_at,
        finished_at,
        is_walkout,
        wait_seconds,
        wait_minutes,
        target_wait_minutes,
        is_seen_within_target,
        source_file,
        source_row_number,
        delivery_key,
        load_id
    from measured

)

select * from final
