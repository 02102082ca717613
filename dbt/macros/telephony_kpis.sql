{#-
    Telephony KPI building blocks shared by kpi_telephony_daily and kpi_telephony_monthly,
    so both grains use one definition (docs/kpi-definitions.md). They aggregate fct_calls rows.
-#}

{#- Seconds as an exact decimal (millisecond precision) before summing: sums of doubles depend
    on the order DuckDB adds them in parallel, so two builds could differ in the last bit. -#}
{% macro exact_seconds(column) -%}
    cast({{ column }} as decimal(18, 3))
{%- endmacro %}

{#- Counts and sums over fct_calls rows (use inside a grouped select). -#}
{% macro telephony_call_measures() -%}
    count(*) as calls_total,
    count(*) filter (where is_offered) as offered,
    count(*) filter (where is_answered) as answered,
    count(*) filter (where is_answered_within_threshold) as answered_within_threshold,
    count(*) filter (where is_abandoned) as abandoned,
    count(*) filter (where is_short_abandon) as short_abandoned,
    count(*) filter (where is_ivr_only) as ivr_only,
    count(*) filter (where is_direct_dial) as direct_dial,
    count(*) filter (where is_answered and has_known_wait) as answered_known_wait,
    count(*) filter (where is_answered and not has_known_wait) as answered_unknown_wait,
    coalesce(
        sum(
            case when is_answered and has_known_wait then {{ exact_seconds('wait_seconds') }} end
        ), 0
    ) as answered_wait_seconds,
    count(*) filter (where is_answered and has_known_handle_time) as answered_known_handle_time,
    coalesce(
        sum(
            case
                when is_answered and has_known_handle_time
                    then {{ exact_seconds('handle_seconds') }}
            end
        ), 0
    ) as answered_handle_seconds,
    count(*) filter (where is_out_of_hours) as out_of_hours_calls
{%- endmacro %}

{#- KPI numerators, denominators and values from the measures above. -#}
{% macro telephony_kpi_figures() -%}
    answered_within_threshold as tsf_numerator,
    offered - short_abandoned as tsf_denominator,
    {{ percentage('answered_within_threshold', 'offered - short_abandoned') }} as tsf_pct,
    answered_wait_seconds as asa_numerator,
    answered_known_wait as asa_denominator,
    {{ safe_divide('answered_wait_seconds', 'answered_known_wait') }} as asa_seconds,
    abandoned - short_abandoned as abandon_rate_numerator,
    offered - short_abandoned as abandon_rate_denominator,
    {{ percentage('abandoned - short_abandoned', 'offered - short_abandoned') }}
        as abandon_rate_pct,
    answered_handle_seconds as aht_numerator,
    answered_known_handle_time as aht_denominator,
    {{ safe_divide('answered_handle_seconds', 'answered_known_handle_time') }} as aht_seconds,
    out_of_hours_calls as out_of_hours_numerator,
    calls_total as out_of_hours_denominator,
    {{ percentage('out_of_hours_calls', 'calls_total') }} as out_of_hours_pct
{%- endmacro %}
