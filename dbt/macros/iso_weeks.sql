{#-
    ISO 8601 weeks (marts.kpi_telephony_weekly): weeks run Monday to Sunday; week 1 of an ISO
    year is the week holding its first Thursday, so 29-31 December can belong to week 1 of the
    next ISO year and 1-3 January to week 52 or 53 of the previous one.
-#}

{#- The Monday starting the ISO week of a date. -#}
{% macro iso_week_start(expression) -%}
    cast({{ dbt.date_trunc('week', expression) }} as date)
{%- endmacro %}

{#- The ISO year (the year of the week's Thursday) of a date. -#}
{% macro iso_year(expression) -%}
    {{ return(adapter.dispatch('iso_year', 'hub_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__iso_year(expression) -%}
    cast(extract(isoyear from {{ expression }}) as integer)
{%- endmacro %}

{#- Trino and PostgreSQL spell it year_of_week / isoyear; Spark has no ISO year: the year of
    the week's Thursday. -#}
{% macro default__iso_year(expression) -%}
    cast(extract(year from {{ add_interval(iso_week_start(expression), 3, 'day') }}) as integer)
{%- endmacro %}

{#- The ISO week number (1-53) of a date. -#}
{% macro iso_week(expression) -%}
    cast(extract(week from {{ expression }}) as integer)
{%- endmacro %}

{#- Pre-hook of marts.kpi_telephony_weekly: delete the weeks that touch a partner-month in scope
    (a week of two months is redone when either changes). -#}
{% macro delete_scoped_weeks(scope='int_build__scope_months') -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            {{ in_scoped_month(this.identifier, 'first_month', scope=scope) }}
            or {{ in_scoped_month(this.identifier, 'last_month', scope=scope) }}
    {%- endif -%}
{%- endmacro %}
