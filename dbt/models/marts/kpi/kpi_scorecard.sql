{#- One entry per KPI in kpi_definitions and source CTE: (kpi_code, value, numerator,
    denominator) columns of that CTE. Count KPIs and cost_to_serve_gbp have no denominator
    ('null'); channel_shift_pts is a difference of two percentages, so its numerator is the
    difference itself. Telephony KPIs come from kpi_telephony_monthly, the all-channel contact
    (CRM) KPIs from kpi_contact_monthly and fct_complaints (docs/kpi-definitions.md). -#}
{%- set telephony_kpis = [
    ('tsf_pct', 'tsf_pct', 'tsf_numerator', 'tsf_denominator'),
    ('asa_seconds', 'asa_seconds', 'asa_numerator', 'asa_denominator'),
    ('abandon_rate_pct', 'abandon_rate_pct', 'abandon_rate_numerator', 'abandon_rate_denominator'),
    ('sl_days_pct', 'sl_days_pct', 'sl_days_met', 'sl_days'),
    ('aht_seconds', 'aht_seconds', 'aht_numerator', 'aht_denominator'),
    ('calls_offered', 'offered', 'offered', 'null'),
    (
        'offered_mom_change_pct', 'offered_mom_change_pct',
        'offered_mom_change_numerator', 'offered_mom_change_denominator'
    ),
    ('out_of_hours_pct', 'out_of_hours_pct', 'out_of_hours_numerator', 'out_of_hours_denominator'),
    ('answered_unknown_wait', 'answered_unknown_wait', 'answered_unknown_wait', 'null'),
    (
        'csc_call_share_pct', 'csc_call_share_pct',
        'csc_call_share_numerator', 'csc_call_share_denominator'
    ),
] -%}
{#- CRM KPIs per partner and month (segment_code 'all'). -#}
{%- set crm_partner_kpis = [
    ('contacts', 'contacts', 'contacts', 'null'),
    ('fpoc_pct', 'fpoc_pct', 'fpoc_resolved', 'fpoc_flagged'),
    ('repeat_contact_7d_pct', 'repeat_contact_7d_pct', 'repeated_7d', 'repeat_assessable'),
    ('fpoc_repeat_7d_pct', 'fpoc_repeat_7d_pct', 'fpoc_repeated_7d', 'fpoc_repeat_assessable'),
    ('avoidable_contact_pct', 'avoidable_contact_pct', 'avoidable_contacts', 'contacts'),
    ('cost_per_contact_gbp', 'cost_per_contact_gbp', 'cost_gbp', 'contacts'),
    ('cost_to_serve_gbp', 'cost_gbp', 'cost_gbp', 'null'),
    ('csat_pct', 'csat_pct', 'satisfied_responses', 'satisfaction_responses'),
    (
        'csat_response_rate_pct', 'csat_response_rate_pct',
        'resolved_satisfaction_responses', 'resolved_contacts'
    ),
    ('complaints_per_1000', 'complaints_per_1000', 'complaints', 'contacts'),
    (
        'complaints_in_policy_pct', 'complaints_in_policy_pct',
        'complaints_in_policy', 'complaints_policy_assessable'
    ),
    ('repeat_complainants', 'repeat_complainants', 'repeat_complainants', 'null'),
    ('duplicate_case_pct', 'duplicate_case_pct', 'duplicate_cases', 'contacts'),
    (
        'data_accuracy_pct', 'data_accuracy_pct',
        'data_accuracy_numerator', 'data_accuracy_denominator'
    ),
] -%}
{#- CRM KPIs per partner, month and channel (segment_code = channel_code). -#}
{%- set crm_channel_kpis = [
    ('channel_mix_pct', 'channel_mix_pct', 'contacts', 'partner_contacts'),
    ('cost_per_contact_gbp', 'cost_per_contact_gbp', 'cost_gbp', 'contacts'),
    ('cost_to_serve_gbp', 'cost_gbp', 'cost_gbp', 'null'),
    ('channel_shift_pts', 'channel_shift_pts', 'channel_shift_pts', 'null'),
] -%}
{#- CRM KPIs per partner, month and avoidable category (segment_code = the category). -#}
{%- set crm_avoidable_kpis = [
    ('avoidable_contact_pct', 'avoidable_contact_pct', 'avoidable_contacts', 'contacts'),
] -%}
{#- Service-standard KPIs per partner and month (kpi_service_standards_monthly). The median has
    no denominator and no pooled hub value (unit hours). -#}
{%- set service_standard_kpis = [
    (
        'voicemail_in_policy_pct', 'voicemail_in_policy_pct',
        'voicemails_in_policy', 'voicemails'
    ),
    (
        'voicemail_median_response_hours', 'voicemail_median_response_hours',
        'voicemail_median_response_hours', 'null'
    ),
    (
        'reception_wait_avg_minutes', 'reception_wait_avg_minutes',
        'reception_wait_minutes', 'reception_tickets_called'
    ),
    (
        'reception_seen_within_target_pct', 'reception_seen_within_target_pct',
        'reception_seen_within_target', 'reception_tickets'
    ),
    ('reception_walkout_pct', 'reception_walkout_pct', 'reception_walkouts', 'reception_tickets'),
    ('web_visits', 'web_visits', 'web_visits', 'null'),
    ('web_poor_rating_pct', 'web_poor_rating_pct', 'web_poor_ratings', 'web_ratings'),
    ('self_service_share_pct', 'self_service_share_pct', 'web_visits', 'self_service_denominator'),
] -%}
{#- (source CTE, segment_code expression, KPIs) -#}
{%- set kpi_sources = [
    ('telephony_monthly', "'all'", telephony_kpis),
    ('crm_partner_months', "'all'", crm_partner_kpis),
    ('crm_channel_months', 'channel_code', crm_channel_kpis),
    ('crm_avoidable_months', 'avoidable_category', crm_avoidable_kpis),
    ('service_standard_months', "'all'", service_standard_kpis),
] -%}
{%- set kpi_rows = [] -%}
{%- for source_cte, segment_code, kpis in kpi_sources -%}
{%- for kpi in kpis -%}
{%- do kpi_rows.append([source_cte, segment_code] + kpi | list) -%}
{%- endfor -%}
{%- endfor -%}

{#- Redone by month, every partner (docs/architecture.md, "Incremental builds"): ranks and the
    pooled hub figure compare the partners of a month, so a month with any partner in scope is
    recomputed whole, as are the month after (month-on-month change) and a year after (channel
    shift against the same month last year). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_months('month', shifts=[0, 1, 12], any_partner=true) }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}

with

telephony_monthly as (

    select * from {{ ref('kpi_telephony_monthly') }}

),

contact_monthly as {{ inline_cte() }} (

    select * from {{ ref('kpi_contact_monthly') }}

),

complaints as (

    select * from {{ ref('fct_complaints') }}

),

service_standard_months as (

    select * from {{ ref('kpi_service_standards_monthly') }}

),

channels as (

    select * from {{ ref('dim_channel') }}

),

targets as {{ inline_cte() }} (

    select * from {{ ref('int_kpi__partner_targets') }}

),

crm_partner_measures as (

    select
        partner_code,
        month,
        {% for column in crm_contact_measure_columns() -%}
        sum({{ column }}) as {{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from contact_monthly
    group by partner_code, month

),

complaint_months as (

    select
        partner_code,
        received_month as month,
        count(*) filter (where is_policy_assessable) as complaints_policy_assessable,
        count(*) filter (
            where is_policy_assessable and is_answered_in_policy
        ) as complaints_in_policy,
        count(distinct customer_id) filter (
            where is_repeat_complainant
        ) as repeat_complainants
    from complaints
    where feedback_type = 'complaint'
    group by partner_code, received_month

),

crm_partner_figures as (

    select
        *,
        phones_valid + postcodes_valid as data_accuracy_numerator,
        phones_given + postcodes_given as data_accuracy_denominator,
        {{ crm_contact_kpi_figures() }},
        {{ percentage('fpoc_repeated_7d', 'fpoc_repeat_assessable') }} as fpoc_repeat_7d_pct,
        {{ measured_or_null(
            'satisfaction_responses',
            percentage('resolved_satisfaction_responses', 'resolved_contacts')
        ) }} as csat_response_rate_pct,
        {{ measured_or_null('feedback_given', per_thousand('complaints', 'contacts')) }}
            as complaints_per_1000,
        {{ measured_or_null('identified_contacts', percentage('duplicate_cases', 'contacts')) }}
            as duplicate_case_pct,
        {{ percentage(
            'phones_valid + postcodes_valid', 'phones_given + postcodes_given'
        ) }} as data_accuracy_pct
    from crm_partner_measures

),

crm_partner_months as (

    select
        crm_partner_figures.*,
        coalesce(complaint_months.complaints_policy_assessable, 0)
            as complaints_policy_assessable,
        coalesce(complaint_months.complaints_in_policy, 0) as complaints_in_policy,
        {{ measured_or_null(
            'crm_partner_figures.feedback_given',
            'coalesce(complaint_months.repeat_complainants, 0)'
        ) }} as repeat_complainants,
        {{ percentage(
            'complaint_months.complaints_in_policy',
            'complaint_months.complaints_policy_assessable'
        ) }} as complaints_in_policy_pct
    from crm_partner_figures
    left join complaint_months
        on
            crm_partner_figures.partner_code = complaint_months.partner_code
            and crm_partner_figures.month = complaint_months.month

),

channel_codes as (

    -- Every channel (dim_channel, plus any in the data) gets rows for every partner month with
    -- contacts, so a channel without contacts has a 0 % mix (and a channel shift against it).
    select channel_code from channels
    union
    select channel_code from contact_monthly

),

channel_measures as (

    select
        partner_code,
        month,
        channel_code,
        sum(contacts) as contacts,
        sum(cost_gbp) as cost_gbp
    from contact_monthly
    group by partner_code, month, channel_code

),

channel_mix as (

    select
        crm_partner_measures.partner_code,
        crm_partner_measures.month,
        channel_codes.channel_code,
        crm_partner_measures.contacts as partner_contacts,
        coalesce(channel_measures.contacts, 0) as contacts,
        coalesce(channel_measures.cost_gbp, 0) as cost_gbp,
        {{ percentage('coalesce(channel_measures.contacts, 0)', 'crm_partner_measures.contacts') }}
            as channel_mix_pct,
        {{ safe_divide('channel_measures.cost_gbp', 'channel_measures.contacts') }}
            as cost_per_contact_gbp
    from crm_partner_measures
    cross join channel_codes
    left join channel_measures
        on
            crm_partner_measures.partner_code = channel_measures.partner_code
            and crm_partner_measures.month = channel_measures.month
            and channel_codes.channel_code = channel_measures.channel_code

),

crm_channel_months as (

    select
        channel_mix.*,
        channel_mix.channel_mix_pct - last_year.channel_mix_pct as channel_shift_pts
    from channel_mix
    left join channel_mix as last_year
        on
            channel_mix.partner_code = last_year.partner_code
            and channel_mix.channel_code = last_year.channel_code
            and {{ add_months('channel_mix.month', -12) }} = last_year.month

),

crm_avoidable_months as (

    {% for category in crm_avoidable_categories() -%}
    select
        partner_code,
        month,
        '{{ category }}' as avoidable_category,
        avoidable_{{ category }} as avoidable_contacts,
        contacts,
        {{ measured_or_null(
            'avoidable_flagged', percentage('avoidable_' ~ category, 'contacts')
        ) }} as avoidable_contact_pct
    from crm_partner_measures
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

kpi_values as (

    {#- the months in scope, read once for every KPI's filter below -#}
    {%- set scope_months = scoped_months(shifts=[0, 1, 12]) if is_incremental() else [] %}
    {% for source_cte, segment_code, kpi_code, value_column, numerator_column, denominator_column
        in kpi_rows -%}
    select
        partner_code,
        month,
        '{{ kpi_code }}' as kpi_code,
        {{ segment_code }} as segment_code,
        {{ 'false' if denominator_column == 'null' else 'true' }} as has_denominator,
        cast({{ value_column }} as double) as kpi_value,
        cast({{ numerator_column }} as decimal(38, 6)) as numerator,
        cast({{ denominator_column }} as decimal(38, 6)) as denominator
    from {{ source_cte }}
    where {{ in_scoped_month(source_cte, 'month', any_partner=true, months=scope_months) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

suppressed as (

    -- Small-number suppression (docs/kpi-definitions.md, "Benchmarking"): a value whose
    -- denominator is below the KPI's min_denominator is served null, `suppressed`, never
    -- ranked; its counts stay and still count in the pooled hub figure.
    select
        kpi_values.*,
        coalesce(
            kpi_values.kpi_value is not null
            and kpi_values.has_denominator
            and kpi_values.denominator < targets.min_denominator,
            false
        ) as is_suppressed
    from kpi_values
    inner join targets
        on
            kpi_values.partner_code = targets.partner_code
            and kpi_values.kpi_code = targets.kpi_code

),

served as (

    select
        *,
        case when not is_suppressed then kpi_value end as served_value
    from suppressed

),

scored as (

    select
        kpi_values.partner_code,
        kpi_values.month,
        kpi_values.kpi_code,
        kpi_values.segment_code,
        targets.kpi_name,
        targets.unit,
        targets.direction,
        kpi_values.has_denominator,
        kpi_values.kpi_value,
        kpi_values.served_value,
        kpi_values.is_suppressed,
        kpi_values.numerator,
        kpi_values.denominator,
        targets.target,
        targets.amber_tolerance,
        targets.has_target_override,
        targets.direction != 'info' and kpi_values.served_value is not null as is_ranked,
        case
            when
                kpi_values.served_value is null
                or targets.target is null
                or targets.direction = 'info'
                then 'none'
            when targets.direction = 'higher_is_better'
                then
                    case
                        when kpi_values.served_value >= targets.target then 'green'
                        when
                            kpi_values.served_value
                            >= targets.target - coalesce(targets.amber_tolerance, 0)
                            then 'amber'
                        else 'red'
                    end
            when targets.direction = 'lower_is_better'
                then
                    case
                        when kpi_values.served_value <= targets.target then 'green'
                        when
                            kpi_values.served_value
                            <= targets.target + coalesce(targets.amber_tolerance, 0)
                            then 'amber'
                        else 'red'
                    end
            else 'none'
        end as rag_status
    from served as kpi_values
    inner join targets
        on
            kpi_values.partner_code = targets.partner_code
            and kpi_values.kpi_code = targets.kpi_code

),

compared as (

    select
        *,
        -- Ranked on values rounded to 9 decimals: equal figures (e.g. every partner's web
        -- contacts at 0.20 GBP) share a rank whatever floating-point noise their sums carry.
        rank() over (
            partition by month, kpi_code, segment_code, is_ranked
            order by
                round(
                    case
                        when direction = 'lower_is_better' then served_value else -served_value
                    end,
                    9
                )
        ) as rank_in_partition,
        count(case when is_ranked then 1 end) over (
            partition by month, kpi_code, segment_code
        ) as ranked_count,
        sum(case when kpi_value is not null then numerator end) over (
            partition by month, kpi_code, segment_code
        ) as hub_numerator_sum,
        sum(case when kpi_value is not null then denominator end) over (
            partition by month, kpi_code, segment_code
        ) as hub_denominator_sum
    from scored

),

final as (

    select
        partner_code,
        month,
        kpi_code,
        segment_code,
        kpi_name,
        unit,
        direction,
        served_value as value,
        numerator,
        denominator,
        target,
        amber_tolerance,
        has_target_override,
        rag_status,
        case
            when is_suppressed then 'suppressed'
            when kpi_value is null then 'not_measured'
            else 'measured'
        end as measurement_status,
        case when is_ranked then rank_in_partition end as rank_among_partners,
        case when direction != 'info' then ranked_count end as partners_ranked,
        case
            when unit in ('pts', 'hours') then null
            when not has_denominator then hub_numerator_sum
            when unit = 'pct' then {{ percentage('hub_numerator_sum', 'hub_denominator_sum') }}
            when unit = 'per_1000'
                then {{ per_thousand('hub_numerator_sum', 'hub_denominator_sum') }}
            when unit in ('seconds', 'minutes', 'gbp')
                then {{ safe_divide('hub_numerator_sum', 'hub_denominator_sum') }}
        end as hub_value,
        case when unit not in ('pts', 'hours') then hub_numerator_sum end as hub_numerator,
        case when unit not in ('pts', 'hours') then hub_denominator_sum end as hub_denominator
    from compared

)

select * from final
