{#-
    Ratios for KPI figures. Division by zero (or by null) gives null, never an error or zero.
-#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}

{% macro percentage(numerator, denominator) -%}
    100 * cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}
