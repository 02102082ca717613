{#- A view: fct_calls and the daily service levels read it for the deliveries or months a
    build redoes (docs/architecture.md, "Incremental builds"). -#}
{{ config(materialized='view') }}

with

calls as (

    select * from {{ ref('int_calls__validated') }}
    where record_status = 'valid'

),

opening_hours as (

    select * from {{ ref('stg_partner_config__opening_hours') }}

),

bank_holidays as (

    select * from {{ ref('uk_bank_holidays') }}

),

kpi_definitions as (

    select * from {{ ref('kpi_definitions') }}

),

thresholds as (

    select
        max(case when kpi_code = 'tsf_pct' then threshold_seconds end)
            as answer_threshold_seconds,
        max(case when kpi_code = 'abandon_rate_pct' then threshold_seconds end)
            as short_abandon_threshold_seconds
    from kpi_definitions

),

calendar as (

    select
        *,
        cast(started_at as date) as call_date,
        cast(date_trunc('month', started_at) as date) as call_month,
        cast(hour(started_at) as integer) as call_hour,
        cast({{ iso_day_of_week('started_at') }} as integer) as iso_dow,
        cast(started_at as time) as started_time
    from calls

),

final as (

    select
        calendar.partner_code || ':' || calendar.source_call_id as call_id,
        calendar.call_row_id,
        calendar.partner_code,
        calendar.source_call_id,
        {{ queue_id('calendar.partner_code', 'calendar.queue_name') }} as queue_id,
        calendar.queue_name,
        calendar.started_at,
        calendar.call_date,
        calendar.call_month,
        calendar.call_hour,
        calendar.iso_dow,
        calendar.iso_dow in (6, 7) as is_weekend,
        bank_holidays.holiday_date is not null as is_bank_holiday,
        (
            opening_hours.partner_code is null
            or bank_holidays.holiday_date is not null
            or calendar.started_time < opening_hours.opening_time
            or calendar.started_time >= opening_hours.closing_time
        ) as is_out_of_hours,
        calendar.outcome,
        calendar.outcome in ('answered', 'abandoned') as is_offered,
        calendar.outcome = 'answered' as is_answered,
        calendar.outcome = 'abandoned' as is_abandoned,
        coalesce(
            calendar.outcome = 'abandoned'
            and calendar.wait_seconds < thresholds.short_abandon_threshold_seconds,
            false
        ) as is_short_abandon,
        calendar.outcome = 'ivr_only' as is_ivr_only,
        calendar.outcome = 'direct_dial' as is_direct_dial,
        calendar.wait_seconds is not null as has_known_wait,
        calendar.wait_seconds,
        coalesce(
            calendar.outcome = 'answered'
            and calendar.wait_seconds <= thresholds.answer_threshold_seconds,
            false
        ) as is_answered_within_threshold,
        calendar.talk_seconds,
        calendar.hold_seconds,
        calendar.wrap_seconds,
        calendar.talk_seconds
        + coalesce(calendar.hold_seconds, 0)
        + coalesce(calendar.wrap_seconds, 0) as handle_seconds,
        calendar.talk_seconds is not null as has_known_handle_time,
        calendar.source_file,
        calendar.source_row_number,
        calendar.delivery_key,
        calendar.load_id
    from calendar
    cross join thresholds
    left join opening_hours
        on
            calendar.partner_code = opening_hours.partner_code
            and calendar.iso_dow = opening_hours.iso_dow
    left join bank_holidays
        on calendar.call_date = bank_holidays.holiday_date

)

select * from final
