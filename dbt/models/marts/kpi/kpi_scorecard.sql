{#- One entry per KPI in kpi_definitions: (kpi_code, value, numerator, denominator) columns of
    kpi_telephony_monthly. Count KPIs have no denominator. -#}
{%- set kpis = [
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
] -%}

with

monthly as (

    select * from {{ ref('kpi_telephony_monthly') }}

),

targets as (

    select * from {{ ref('int_kpi__partner_targets') }}

),

kpi_values as (

    {% for kpi_code, value_column, numerator_column, denominator_column in kpis -%}
    select
        partner_code,
        month,
        '{{ kpi_code }}' as kpi_code,
        cast({{ value_column }} as double) as kpi_value,
        cast({{ numerator_column }} as double) as numerator,
        cast({{ denominator_column }} as double) as denominator
    from monthly
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

scored as (

    select
        kpi_values.partner_code,
        kpi_values.month,
        kpi_values.kpi_code,
        targets.kpi_name,
        targets.unit,
        targets.direction,
        kpi_values.kpi_value,
        kpi_values.numerator,
        kpi_values.denominator,
        targets.target,
        targets.amber_tolerance,
        targets.has_target_override,
        targets.direction != 'info' and kpi_values.kpi_value is not null as is_ranked,
        case
            when
                kpi_values.kpi_value is null
                or targets.target is null
                or targets.direction = 'info'
                then 'none'
            when targets.direction = 'higher_is_better'
                then
                    case
                        when kpi_values.kpi_value >= targets.target then 'green'
                        when
                            kpi_values.kpi_value
                            >= targets.target - coalesce(targets.amber_tolerance, 0)
                            then 'amber'
                        else 'red'
                    end
            when targets.direction = 'lower_is_better'
                then
                    case
                        when kpi_values.kpi_value <= targets.target then 'green'
                        when
                            kpi_values.kpi_value
                            <= targets.target + coalesce(targets.amber_tolerance, 0)
                            then 'amber'
                        else 'red'
                    end
            else 'none'
        end as rag_status
    from kpi_values
    inner join targets
        on
            kpi_values.partner_code = targets.partner_code
            and kpi_values.kpi_code = targets.kpi_code

),

compared as (

    select
        *,
        rank() over (
            partition by month, kpi_code, is_ranked
            order by case when direction = 'lower_is_better' then kpi_value else -kpi_value end
        ) as rank_in_partition,
        count(*) filter (where is_ranked) over (partition by month, kpi_code) as ranked_count,
        sum(case when kpi_value is not null then numerator end) over (
            partition by month, kpi_code
        ) as hub_numerator,
        sum(case when kpi_value is not null then denominator end) over (
            partition by month, kpi_code
        ) as hub_denominator
    from scored

),

final as (

    select
        partner_code,
        month,
        kpi_code,
        kpi_name,
        unit,
        direction,
        kpi_value as value,
        numerator,
        denominator,
        target,
        amber_tolerance,
        has_target_override,
        rag_status,
        case when is_ranked then rank_in_partition end as rank_among_partners,
        case when direction != 'info' then ranked_count end as partners_ranked,
        case unit
            when 'pct' then {{ percentage('hub_numerator', 'hub_denominator') }}
            when 'seconds' then {{ safe_divide('hub_numerator', 'hub_denominator') }}
            when 'count' then hub_numerator
        end as hub_value,
        hub_numerator,
        hub_denominator
    from compared

)

select * from final
