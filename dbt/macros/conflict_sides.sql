{#- Both sides of the id conflicts of a validated model (docs/architecture.md, "Delivery
    rules"): the CTEs `conflicts` (rows quarantined as `reason`), `kept_ids`, `kept` (the
    first occurrence each of them names in duplicate_of_<row_id>) and `sides` (both, with
    kept_<row_id> and conflict_role 'kept' or 'quarantined'), to follow an import CTE named
    `rows_cte` in a quality model. The macro reads `rows_cte` twice, so the model writes it
    `as {{ inline_cte() }}` (docs/architecture.md, "Portable SQL"): materialised, it would be a
    copy of every validated row. -#}
{% macro conflict_sides(rows_cte, row_id, reason) -%}
conflicts as (

    select * from {{ rows_cte }}
    where quarantine_reason = '{{ reason }}'

),

kept_ids as (

    select distinct duplicate_of_{{ row_id }}
    from conflicts

),

kept as (

    select {{ rows_cte }}.*
    from {{ rows_cte }}
    inner join kept_ids
        on {{ rows_cte }}.{{ row_id }} = kept_ids.duplicate_of_{{ row_id }}

),

sides as (

    select
        *,
        {{ row_id }} as kept_{{ row_id }},
        'kept' as conflict_role
    from kept

    union all

    select
        *,
        duplicate_of_{{ row_id }} as kept_{{ row_id }},
        'quarantined' as conflict_role
    from conflicts

)
{%- endmacro %}
