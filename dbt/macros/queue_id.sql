{#-
    The queue key shared by dim_queue and fct_calls: `<partner_code>:<queue name>`, with
    `(no queue)` for calls that carry no queue name.
-#}
{% macro queue_id(partner_code_column, queue_name_column) -%}
    {{ partner_code_column }} || ':' || coalesce({{ queue_name_column }}, '(no queue)')
{%- endmacro %}
