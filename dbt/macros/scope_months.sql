{#-
    The months of the redone rows of the sources other than the CRM, for the models that list
    the partner-months an incremental build redoes (int_build__scope_call_months,
    int_build__scope_months). `sources`: (source, validated model, event-time column) tuples.
    The calling model defines the CTEs `scope_deliveries` (stg_build__scope_deliveries) and
    `previous_months` (stg_build__scope_months).
-#}

{#- CTE definitions `redone_<source>` (partner_code, period_month, event_month), each ending
    with a comma: a source's rows in the deliveries this build redoes. A time that did not
    parse, or parsed out of range (1970 from an unset clock), is no month of its own: the row
    counts in its file's period month. -#}
{% macro redone_source_rows(sources) -%}
    {%- for source, model, event_at in sources %}
redone_{{ source }} as (

    select
        validated.partner_code,
        validated.period_month,
        case
            when
                validated.quarantine_reason is null
                or validated.quarantine_reason
                not in ('bad_timestamp', 'timestamp_out_of_range')
                then cast(date_trunc('month', validated.{{ event_at }}) as date)
        end as event_month
    from {{ ref(model) }} as validated
    inner join scope_deliveries
        on
            validated.partner_code = scope_deliveries.partner_code
            and validated.delivery_key = scope_deliveries.delivery_key
            and scope_deliveries.source = '{{ source }}'

),
    {% endfor -%}
{%- endmacro %}

{#- A select of (partner_code, month): the period and event months of the redone rows of
    `sources` (the CTEs of redone_source_rows) and the months their rows fell in before this
    build (`previous_months`); a null month is left out. -#}
{% macro redone_source_months(sources) -%}
    select
        partner_code,
        month
    from (
        {%- for source, model, event_at in sources %}
        select
            partner_code,
            period_month as month
        from redone_{{ source }}
        union
        select
            partner_code,
            event_month as month
        from redone_{{ source }}
        union
        {%- endfor %}
        select
            partner_code,
            month
        from previous_months
        where source in (
            {%- for source, model, event_at in sources -%}
            '{{ source }}'{% if not loop.last %}, {% endif %}
            {%- endfor -%}
        )
    ) as redone_months
    where month is not null
{%- endmacro %}
