{#- Redone by month, every partner, as the scorecard it reads (docs/architecture.md,
    "Incremental builds"): the statistics compare the partners of a month. -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_months('month', shifts=[0, 1, 12], any_partner=true) }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}

{%- set outlier_mads = var('benchmark_outlier_mads') -%}
{%- set min_partners = var('benchmark_min_partners_for_quartile') %}

with

scorecard as (

    -- every KPI with a direction (not info), partner level: KPIs added to the scorecard later
    -- are benchmarked without a change here
    select * from {{ ref('kpi_scorecard') }}
    where
        segment_code = 'all'
        and direction != 'info'
        and {{ in_scoped_month(
            ref('kpi_scorecard'), 'month', shifts=[0, 1, 12], any_partner=true
        ) }}

),

partners as (

    select * from {{ ref('dim_partner') }}

),

kpi_rows as (

    select
        scorecard.partner_code,
        scorecard.month,
        scorecard.kpi_code,
        scorecard.kpi_name,
        scorecard.unit,
        scorecard.direction,
        scorecard.value,
        scorecard.measurement_status,
        scorecard.numerator,
        scorecard.denominator,
        coalesce(partners.partner_family, partners.partner_kind, 'other') as partner_family
    from scorecard
    left join partners
        on scorecard.partner_code = partners.partner_code

),

hub_stats as (

    -- across all partners with a value (not measured and suppressed values are left out)
    select
        month,
        kpi_code,
        count(*) as peers_count,
        {{ quantile_linear('value', 0.25) }} as lower_quartile,
        {{ quantile_linear('value', 0.5) }} as median,
        {{ quantile_linear('value', 0.75) }} as upper_quartile
    from kpi_rows
    where value is not null
    group by month, kpi_code

),

family_stats as (

    select
        month,
        kpi_code,
        partner_family,
        count(*) as family_peers_count,
        {{ quantile_linear('value', 0.25) }} as family_lower_quartile,
        {{ quantile_linear('value', 0.5) }} as family_median,
        {{ quantile_linear('value', 0.75) }} as family_upper_quartile
    from kpi_rows
    where value is not null
    group by month, kpi_code, partner_family

),

deviations as (

    select
        kpi_rows.month,
        kpi_rows.kpi_code,
        abs(kpi_rows.value - hub_stats.median) as deviation
    from kpi_rows
    inner join hub_stats
        on
            kpi_rows.month = hub_stats.month
            and kpi_rows.kpi_code = hub_stats.kpi_code
    where kpi_rows.value is not null

),

spread as (

    select
        month,
        kpi_code,
        {{ quantile_linear('deviation', 0.5) }} as median_absolute_deviation,
        -- summed as exact decimals: a sum of doubles depends on the order the engine adds
        -- them, and rounding it is not enough (at 400 partners two builds gave
        -- 4.370177443 and 4.370177442: the sum fell either side of a rounding boundary)
        round(avg(cast(deviation as decimal(38, 12))), 9) as mean_absolute_deviation
    from deviations
    group by month, kpi_code

),

scaled as (

    select
        *,
        round(
            case
                when median_absolute_deviation > 0 then 1.4826 * median_absolute_deviation
                else 1.2533 * mean_absolute_deviation
            end,
            9
        ) as outlier_spread
    from spread

),

final as (

    select
        kpi_rows.partner_code,
        kpi_rows.month,
        kpi_rows.kpi_code,
        kpi_rows.kpi_name,
        kpi_rows.unit,
        kpi_rows.direction,
        kpi_rows.partner_family,
        kpi_rows.value,
        kpi_rows.measurement_status,
        kpi_rows.numerator,
        kpi_rows.denominator,
        coalesce(hub_stats.peers_count, 0) as peers_count,
        hub_stats.median,
        hub_stats.lower_quartile,
        hub_stats.upper_quartile,
        coalesce(family_stats.family_peers_count, 0) as family_peers_count,
        family_stats.family_median,
        family_stats.family_lower_quartile,
        family_stats.family_upper_quartile,
        case
            when
                kpi_rows.value is null
                or hub_stats.peers_count < {{ min_partners }}
                then null
            when kpi_rows.direction = 'higher_is_better'
                then
                    case
                        when
                            {{ benchmark_round('kpi_rows.value') }}
                            >= {{ benchmark_round('hub_stats.upper_quartile') }}
                            then 1
                        when
                            {{ benchmark_round('kpi_rows.value') }}
                            >= {{ benchmark_round('hub_stats.median') }}
                            then 2
                        when
                            {{ benchmark_round('kpi_rows.value') }}
                            >= {{ benchmark_round('hub_stats.lower_quartile') }}
                            then 3
                        else 4
                    end
            else
                case
                    when
                        {{ benchmark_round('kpi_rows.value') }}
                        <= {{ benchmark_round('hub_stats.lower_quartile') }}
                        then 1
                    when
                        {{ benchmark_round('kpi_rows.value') }}
                        <= {{ benchmark_round('hub_stats.median') }}
                        then 2
                    when
                        {{ benchmark_round('kpi_rows.value') }}
                        <= {{ benchmark_round('hub_stats.upper_quartile') }}
                        then 3
                    else 4
                end
        end as partner_quartile,
        scaled.median_absolute_deviation,
        scaled.mean_absolute_deviation,
        scaled.outlier_spread,
        case
            when kpi_rows.value is null then null
            when scaled.outlier_spread = 0 then false
            else
                {{ benchmark_round('abs(kpi_rows.value - hub_stats.median)') }}
                > {{ benchmark_round(outlier_mads ~ ' * scaled.outlier_spread') }}
        end as is_outlier
    from kpi_rows
    left join hub_stats
        on
            kpi_rows.month = hub_stats.month
            and kpi_rows.kpi_code = hub_stats.kpi_code
    left join family_stats
        on
            kpi_rows.month = family_stats.month
            and kpi_rows.kpi_code = family_stats.kpi_code
            and kpi_rows.partner_family = family_stats.partner_family
    left join scaled
        on
            kpi_rows.month = scaled.month
            and kpi_rows.kpi_code = scaled.kpi_code

)

select * from final
