{#- Redone by partner and month (docs/architecture.md, "Incremental builds"): the months in
    scope and the month after each (its month-on-month change compares with them). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_months(
        'month', shifts=[0, 1], scope='int_build__scope_call_months'
    ) }}",
) }}
-- depends_on: {{ ref('int_build__scope_call_months') }}

with

calls as (

    -- the months redone and the month before each (for the month-on-month change)
    select * from {{ ref('fct_calls') }}
    where {{ in_scoped_month(
        ref('fct_calls'), 'call_month', shifts=[-1, 0, 1], scope='int_build__scope_call_months'
    ) }}

),

partner_days as (

    select * from {{ ref('int_telephony__partner_days') }}
    where {{ in_scoped_month(
        ref('int_telephony__partner_days'), 'call_month', shifts=[0, 1],
        scope='int_build__scope_call_months'
    ) }}

),

measures as (

    select
        partner_code,
        call_month as month,
        {{ telephony_call_measures() }}
    from calls
    group by partner_code, call_month

),

partners as (

    select * from {{ ref('dim_partner') }}

),

direct_dial_extract as (

    -- the months a partner's separate direct-dial extract was delivered for, with its calls
    select * from {{ ref('int_direct_dial__partner_months') }}

),

service_level_days as (

    select
        partner_code,
        call_month as month,
        count(*) filter (where is_sl_day_met) as sl_days_met,
        count(*) filter (where is_sl_day) as sl_days
    from partner_days
    group by partner_code, call_month

),

with_previous as (

    select
        measures.*,
        previous_month.offered as offered_previous_month
    from measures
    left join measures as previous_month
        on
            measures.partner_code = previous_month.partner_code
            and {{ add_months('measures.month', -1) }} = previous_month.month

),

figures as (

    select
        with_previous.partner_code,
        with_previous.month,
        with_previous.calls_total,
        with_previous.offered,
        with_previous.answered,
        with_previous.answered_within_threshold,
        with_previous.abandoned,
        with_previous.short_abandoned,
        with_previous.ivr_only,
        with_previous.direct_dial,
        with_previous.answered_known_wait,
        with_previous.answered_unknown_wait,
        with_previous.answered_wait_seconds,
        with_previous.answered_known_handle_time,
        with_previous.answered_handle_seconds,
        with_previous.out_of_hours_calls,
        with_previous.offered_previous_month,
        {{ telephony_kpi_figures() }},
        coalesce(service_level_days.sl_days_met, 0) as sl_days_met,
        coalesce(service_level_days.sl_days, 0) as sl_days,
        {{ percentage('service_level_days.sl_days_met', 'service_level_days.sl_days') }}
            as sl_days_pct,
        with_previous.offered - with_previous.offered_previous_month
            as offered_mom_change_numerator,
        with_previous.offered_previous_month as offered_mom_change_denominator,
        {{ percentage(
            'with_previous.offered - with_previous.offered_previous_month',
            'with_previous.offered_previous_month'
        ) }} as offered_mom_change_pct,
        -- csc_call_share_pct (docs/kpi-definitions.md, "Calls reaching the contact centre"):
        -- calls reaching the centre (every call but direct-dial ones) / those + every direct
        -- dial (telephony outcome codes and the separate extract's calls); null when not
        -- measured: a partner whose telephony never says a call went to a direct line and
        -- whose extract was not delivered for the month (never 100 %)
        case
            when partners.has_direct_dial_extract then direct_dial_extract.direct_dial_calls
        end as direct_dial_extract_calls,
        coalesce(partners.has_direct_dial_outcome_code, false)
        or (
            coalesce(partners.has_direct_dial_extract, false)
            and direct_dial_extract.month is not null
        ) as is_direct_dial_measured
    from with_previous
    left join service_level_days
        on
            with_previous.partner_code = service_level_days.partner_code
            and with_previous.month = service_level_days.month
    left join partners
        on with_previous.partner_code = partners.partner_code
    left join direct_dial_extract
        on
            with_previous.partner_code = direct_dial_extract.partner_code
            and with_previous.month = direct_dial_extract.month
    where {{ in_scoped_month(
        'with_previous', 'month', shifts=[0, 1], scope='int_build__scope_call_months'
    ) }}

),

final as (

    select
        *,
        case
            when is_direct_dial_measured then calls_total - direct_dial
        end as csc_call_share_numerator,
        case
            when is_direct_dial_measured
                then calls_total + coalesce(direct_dial_extract_calls, 0)
        end as csc_call_share_denominator,
        case
            when is_direct_dial_measured
                then {{ percentage(
                    'calls_total - direct_dial',
                    'calls_total + coalesce(direct_dial_extract_calls, 0)'
                ) }}
        end as csc_call_share_pct
    from figures

)

select * from final
