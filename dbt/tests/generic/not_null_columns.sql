{#-
    None of the listed columns holds a null: one row per column that does, with how many.
    One scan of the model for all its required columns, where dbt's column-level `not_null`
    runs one query per column (a dbt node each: about 60 ms of fixed cost per node and build,
    docs/architecture.md "What a build costs").
    Usage (properties yml, at model level):
        data_tests:
          - not_null_columns:
              arguments:
                column_names: [a, b]
-#}
{% test not_null_columns(model, column_names) %}

with

null_counts as (

    select
        {%- for column_name in column_names %}
        count(*) - count({{ column_name }}) as {{ column_name }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}

),

failing_columns as (

    {%- for column_name in column_names %}
    select
        '{{ column_name }}' as column_name,
        {{ column_name }} as null_rows
    from null_counts
    where {{ column_name }} > 0
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from failing_columns

{% endtest %}
