{#- Redone by partner and month (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_months('call_month', scope='int_build__scope_call_months') }}",
) }}
-- depends_on: {{ ref('int_build__scope_call_months') }}

with

calls as (

    select * from {{ ref('int_calls__classified') }}
    where {{ in_scoped_month(
        ref('int_calls__classified'), 'call_month', scope='int_build__scope_call_months'
    ) }}

),

tsf_targets as (

    select * from {{ ref('int_kpi__partner_targets') }}
    where kpi_code = 'tsf_pct'

),

daily as (

    select
        partner_code,
        call_date,
        call_month,
        count(*) filter (where is_offered) as offered,
        count(*) filter (where is_short_abandon) as short_abandoned,
        count(*) filter (where is_answered_within_threshold) as answered_within_threshold
    from calls
    group by partner_code, call_date, call_month

),

final as (

    select
        daily.partner_code,
        daily.call_date,
        daily.call_month,
        daily.offered,
        daily.short_abandoned,
        daily.answered_within_threshold as tsf_numerator,
        daily.offered - daily.short_abandoned as tsf_denominator,
        {{ percentage(
            'daily.answered_within_threshold',
            'daily.offered - daily.short_abandoned'
        ) }} as tsf_pct,
        tsf_targets.target as tsf_target_pct,
        daily.offered - daily.short_abandoned > 0 as is_sl_day,
        coalesce(
            daily.offered - daily.short_abandoned > 0
            and {{ percentage(
                'daily.answered_within_threshold',
                'daily.offered - daily.short_abandoned'
            ) }} >= tsf_targets.target,
            false
        ) as is_sl_day_met
    from daily
    left join tsf_targets
        on daily.partner_code = tsf_targets.partner_code

)

select * from final
