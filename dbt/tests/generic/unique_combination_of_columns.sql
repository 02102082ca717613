{#-
    The combination of columns is unique across the model (nulls compare equal).
    Usage (properties yml):
        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [a, b]
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grouped as (

    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

)

select * from grouped

{% endtest %}
