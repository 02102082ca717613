{#- Redone by partner and month (docs/architecture.md, "Incremental builds"): every ISO week
    touching a month in scope, read from the calls of that month and the months either side
    (a week of two months holds days of both). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_weeks(scope='int_build__scope_call_months') }}",
) }}
-- depends_on: {{ ref('int_build__scope_call_months') }}

with

calls as (

    select * from {{ ref('fct_calls') }}
    where {{ in_scoped_month(
        ref('fct_calls'), 'call_month', shifts=[-1, 0, 1], scope='int_build__scope_call_months'
    ) }}

),

deliveries as (

    select * from {{ ref('kpi_deliveries') }}

),

delivered_months as (

    -- months the partner delivered telephony for (the period of its files, else the month
    -- of the calls of a file without a period): a week is complete when every day of it lies
    -- in such a month
    select distinct
        partner_code,
        month
    from deliveries
    where source = 'telephony' and month is not null and rows_read > 0

),

dated as (

    select
        *,
        {{ iso_week_start('call_date') }} as week_start_date
    from calls

),

measures as (

    select
        partner_code,
        week_start_date,
        {{ telephony_call_measures() }},
        count(*) filter (where is_weekend) as weekend_calls,
        count(distinct call_date) as days_with_calls
    from dated
    group by partner_code, week_start_date

),

weeks as (

    select
        *,
        {{ add_interval('week_start_date', 6, 'day') }} as week_end_date,
        cast({{ dbt.date_trunc('month', 'week_start_date') }} as date) as first_month,
        cast(
            {{ dbt.date_trunc('month', add_interval('week_start_date', 6, 'day')) }} as date
        ) as last_month
    from measures

),

final as (

    select
        weeks.partner_code,
        {{ iso_year('weeks.week_start_date') }} as iso_year,
        {{ iso_week('weeks.week_start_date') }} as iso_week,
        weeks.week_start_date,
        cast(weeks.week_end_date as date) as week_end_date,
        weeks.first_month,
        weeks.last_month,
        first_delivered.month is not null and last_delivered.month is not null as is_complete,
        weeks.days_with_calls,
        weeks.calls_total,
        weeks.offered,
        weeks.answered,
        weeks.answered_within_threshold,
        weeks.abandoned,
        weeks.short_abandoned,
        weeks.ivr_only,
        weeks.direct_dial,
        weeks.answered_known_wait,
        weeks.answered_unknown_wait,
        weeks.answered_wait_seconds,
        weeks.answered_known_handle_time,
        weeks.answered_handle_seconds,
        weeks.weekend_calls,
        weeks.out_of_hours_calls,
        {{ telephony_kpi_figures() }}
    from weeks
    left join delivered_months as first_delivered
        on
            weeks.partner_code = first_delivered.partner_code
            and weeks.first_month = first_delivered.month
    left join delivered_months as last_delivered
        on
            weeks.partner_code = last_delivered.partner_code
            and weeks.last_month = last_delivered.month
    where
        {{ in_scoped_month('weeks', 'first_month', scope='int_build__scope_call_months') }}
        or {{ in_scoped_month('weeks', 'last_month', scope='int_build__scope_call_months') }}

)

select * from final
