{#- The service-standard KPIs per partner and month (docs/kpi-definitions.md, "Service
    standards"): voicemail, reception and web, with their numerators and denominators. One row
    per month in which a partner that declares a service-standard source (voicemail,
    reception or web) has any valid row of any source; a KPI whose source has no valid row
    that month is null ("not measured is not zero"). Redone by partner and month
    (docs/architecture.md, "Incremental builds"): only the months with changed rows, since no
    figure here depends on the contacts' customers (it counts contacts, never their flags). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_months('month', changed_rows_only=true) }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}
{#- the months in scope, read once for the five sources' filters below -#}
{%- set scope_months = scoped_months(changed_rows_only=true) if is_incremental() else [] %}

with

voicemails as (

    select * from {{ ref('fct_voicemails') }}
    where {{ in_scoped_month(ref('fct_voicemails'), 'left_month', months=scope_months) }}

),

tickets as (

    select * from {{ ref('fct_reception_tickets') }}
    where {{ in_scoped_month(ref('fct_reception_tickets'), 'issued_month', months=scope_months) }}

),

page_days as (

    select * from {{ ref('fct_web_days') }}
    where {{ in_scoped_month(ref('fct_web_days'), 'visit_month', months=scope_months) }}

),

contacts as (

    select * from {{ ref('fct_contacts') }}
    where {{ in_scoped_month(ref('fct_contacts'), 'created_month', months=scope_months) }}

),

calls as (

    select * from {{ ref('fct_calls') }}
    where {{ in_scoped_month(ref('fct_calls'), 'call_month', months=scope_months) }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}
    where source in ('voicemail', 'reception', 'web')

),

measured_partners as (

    select distinct partner_code
    from partner_sources

),

voicemail_months as (

    select
        partner_code,
        left_month as month,
        count(*) as voicemails,
        count(*) filter (where is_responded) as voicemails_responded,
        count(*) filter (where is_responded_in_policy) as voicemails_in_policy,
        percentile_cont(0.5) within group (order by response_seconds)
            as median_response_seconds
    from voicemails
    group by partner_code, left_month

),

ticket_months as (

    select
        partner_code,
        issued_month as month,
        count(*) as reception_tickets,
        count(*) filter (where not is_walkout) as reception_tickets_called,
        cast(sum(wait_seconds) as decimal(38, 6)) / 60 as reception_wait_minutes,
        count(*) filter (where is_seen_within_target) as reception_seen_within_target,
        count(*) filter (where is_walkout) as reception_walkouts,
        max(target_wait_minutes) as reception_target_wait_minutes
    from tickets
    group by partner_code, issued_month

),

web_months as (

    select
        partner_code,
        visit_month as month,
        cast(sum(visits) as bigint) as web_visits,
        cast(sum(ratings) as bigint) as web_ratings,
        cast(sum(coalesce(ratings_poor, 0)) as bigint) as web_poor_ratings,
        count(*) as web_page_days,
        count(*) filter (where has_ratings) as web_rated_page_days
    from page_days
    group by partner_code, visit_month

),

contact_months as (

    select
        partner_code,
        created_month as month,
        count(*) as contacts
    from contacts
    group by partner_code, created_month

),

partner_months as (

    select
        partner_code,
        month
    from voicemail_months
    union
    select
        partner_code,
        month
    from ticket_months
    union
    select
        partner_code,
        month
    from web_months
    union
    select
        partner_code,
        month
    from contact_months
    union
    select distinct
        partner_code,
        call_month as month
    from calls

),

measures as (

    select
        partner_months.partner_code,
        partner_months.month,
        voicemail_months.voicemails,
        voicemail_months.voicemails_responded,
        voicemail_months.voicemails_in_policy,
        voicemail_months.median_response_seconds,
        ticket_months.reception_tickets,
        ticket_months.reception_tickets_called,
        ticket_months.reception_wait_minutes,
        ticket_months.reception_seen_within_target,
        ticket_months.reception_walkouts,
        ticket_months.reception_target_wait_minutes,
        web_months.web_page_days,
        web_months.web_visits,
        web_months.web_rated_page_days,
        web_months.web_ratings,
        web_months.web_poor_ratings,
        contact_months.contacts,
        web_months.web_visits + contact_months.contacts as self_service_denominator
    from partner_months
    inner join measured_partners
        on partner_months.partner_code = measured_partners.partner_code
    left join voicemail_months
        on
            partner_months.partner_code = voicemail_months.partner_code
            and partner_months.month = voicemail_months.month
    left join ticket_months
        on
            partner_months.partner_code = ticket_months.partner_code
            and partner_months.month = ticket_months.month
    left join web_months
        on
            partner_months.partner_code = web_months.partner_code
            and partner_months.month = web_months.month
    left join contact_months
        on
            partner_months.partner_code = contact_months.partner_code
            and partner_months.month = contact_months.month

),

final as (

    select
        *,
        {{ service_standard_kpi_figures() }}
    from measures

)

select * from final
