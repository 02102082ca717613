{#-
    SQL that differs between engines, behind dbt's adapter.dispatch (docs/architecture.md,
    "Portable SQL"): models call these macros, never the DuckDB-only form, so the same models
    can run on another engine by adding its `<adapter>__` implementation here.
-#}

{#- The value of `value_column` on the row that sorts first by (order_1, order_2). -#}
{% macro first_by(value_column, order_1, order_2) -%}
    {{ return(adapter.dispatch('first_by', 'hub_warehouse')(value_column, order_1, order_2)) }}
{%- endmacro %}

{% macro duckdb__first_by(value_column, order_1, order_2) -%}
    arg_min({{ value_column }}, ({{ order_1 }}, {{ order_2 }}))
{%- endmacro %}

{#- Spark and Trino: min_by over a row value. -#}
{% macro default__first_by(value_column, order_1, order_2) -%}
    min_by({{ value_column }}, struct({{ order_1 }}, {{ order_2 }}))
{%- endmacro %}

{#- The date `months` months after the date `date_expression` (a first of month stays one). -#}
{% macro add_months(date_expression, months) -%}
    {{ return(adapter.dispatch('add_months', 'hub_warehouse')(date_expression, months)) }}
{%- endmacro %}

{% macro duckdb__add_months(date_expression, months) -%}
    {%- if months == 0 -%}
        {{ date_expression }}
    {%- else -%}
        cast({{ date_expression }} + interval ({{ months }}) month as date)
    {%- endif -%}
{%- endmacro %}

{% macro default__add_months(date_expression, months) -%}
    {%- if months == 0 -%}
        {{ date_expression }}
    {%- else -%}
        add_months({{ date_expression }}, {{ months }})
    {%- endif -%}
{%- endmacro %}
