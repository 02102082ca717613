{#- One row per (partner_code, `id_column`) held by more than one row of `relation`, with the
    `row_id_column` of its first occurrence (by source_file, then source_row_number) as
    first_<row_id_column>, and each of `carried` columns of that occurrence as first_<column>:
    the other occurrences are re-sent rows (identical values from another delivery: excluded
    as already_delivered) or conflicts (quarantined as duplicates); int_calls__validated,
    int_contacts__validated.

    The duplicated ids are found by counting alone; the ordered pick then runs on their few
    rows only. Picking over every id and keeping those counted twice built one group with an
    ordered state per stored row: 2.5 s of CPU against 0.6 s for the calls of the 25-month
    scale-1 sample. -#}
{% macro first_occurrences_of_duplicates(relation, id_column, row_id_column, carried=[]) -%}
    select
        {{ relation }}.partner_code,
        {{ relation }}.{{ id_column }},
        {%- for column in [row_id_column] + carried %}
        {{ first_by(
            relation ~ '.' ~ column,
            relation ~ '.source_file',
            relation ~ '.source_row_number'
        ) }} as first_{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }}
    inner join (
        select
            partner_code,
            {{ id_column }}
        from {{ relation }}
        group by partner_code, {{ id_column }}
        having count(*) > 1
    ) as duplicated_ids
        on
            {{ relation }}.partner_code = duplicated_ids.partner_code
            and {{ relation }}.{{ id_column }} = duplicated_ids.{{ id_column }}
    group by {{ relation }}.partner_code, {{ relation }}.{{ id_column }}
{%- endmacro %}


{#- A hash of the values of `columns` (SQL expressions), nulls included: two rows with the
    same fingerprint hold the same values (a re-sent row, docs/architecture.md "Delivery
    rules"). -#}
{% macro row_fingerprint(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '~')") -%}
    {%- endfor -%}
    {{ dbt.hash(parts | join(" || '|' || ")) }}
{%- endmacro %}
