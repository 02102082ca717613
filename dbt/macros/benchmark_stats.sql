{#-
    Statistics of marts.kpi_benchmarks (docs/kpi-definitions.md, "Benchmarking").
-#}

{#- The `fraction` quantile of `column` in a grouped select, by linear interpolation between
    the closest ranks (numpy's default `linear`, R type 7, Excel QUARTILE.INC): with n sorted
    values x[0..n-1], position h = (n - 1) x fraction, value x[floor h] + (h - floor h) x
    (x[floor h + 1] - x[floor h]). -#}
{% macro quantile_linear(column, fraction) -%}
    {{ return(adapter.dispatch('quantile_linear', 'hub_warehouse')(column, fraction)) }}
{%- endmacro %}

{% macro duckdb__quantile_linear(column, fraction) -%}
    quantile_cont({{ column }}, {{ fraction }})
{%- endmacro %}

{#- The SQL standard's ordered-set aggregate (PostgreSQL, Snowflake, Trino's approx aside). -#}
{% macro default__quantile_linear(column, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ column }})
{%- endmacro %}

{#- Values are compared with quartiles rounded to 9 decimals, as the scorecard ranks: the
    interpolation must not move a value that equals a quartile across it. -#}
{% macro benchmark_round(expression) -%}
    round({{ expression }}, 9)
{%- endmacro %}
