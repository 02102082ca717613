{#-
    [first day, last day] of the calendar (dim_date) as ISO date texts: 1 January of the
    earliest year of a stored event (a valid or excluded call's start, a contact's created,
    resolved or responded time) to 31 December of the latest year of an event or of a load
    time plus one day. Read when the model runs; a warehouse with no rows gets the year of
    var earliest_timestamp.
-#}
{% macro calendar_bounds() -%}
    {%- set earliest_year = var('earliest_timestamp')[:4] | int -%}
    {%- set none_yet = [earliest_year ~ '-01-01', earliest_year ~ '-12-31'] -%}
    {%- if not execute
          or load_relation(ref('int_calls__validated')) is none
          or load_relation(ref('int_contacts__validated')) is none -%}
        {{ return(none_yet) }}
    {%- endif -%}
    {%- set query -%}
        with

        calls as {{ inline_cte() }} (

            select * from {{ ref('int_calls__validated') }}
            where record_status != 'quarantined'

        ),

        contacts as {{ inline_cte() }} (

            select * from {{ ref('int_contacts__validated') }}
            where record_status != 'quarantined'

        ),

        -- starts: the events that open the calendar; bounds: what it must reach
        starts as (

            select started_at as event_at from calls
            union all
            select created_at as event_at from contacts
            {%- for model, event_at in service_standard_events() %}
            union all
            select {{ event_at }} as event_at from {{ ref(model) }}
            where record_status != 'quarantined'
            {%- endfor %}

        ),

        bounds as (

            select {{ add_interval('loaded_at', 1, 'day') }} as event_at from calls
            union all
            select {{ add_interval('loaded_at', 1, 'day') }} as event_at from contacts
            union all
            select resolved_at as event_at from contacts
            union all
            select responded_at as event_at from contacts

        )

        select
            (select min(extract(year from event_at)) from starts) as first_year,
            (select max(extract(year from event_at)) from bounds) as last_year
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set first_year = row[0] if row[0] is not none else earliest_year -%}
    {%- set last_year = [first_year | int, (row[1] if row[1] is not none else 0) | int] | max -%}
    {{ return([(first_year | int) ~ '-01-01', last_year ~ '-12-31']) }}
{%- endmacro %}


{#- (validated model, event time) of the service-standard sources and the direct-dial extract
    whose stored model exists: their events open the calendar too (a first build has none
    yet). -#}
{% macro service_standard_events() -%}
    {%- set events = [] -%}
    {%- for model, event_at in [
        ('int_voicemails__validated', 'left_at'),
        ('int_reception_tickets__validated', 'issued_at'),
        ('int_web_days__validated', 'cast(visit_date as timestamp)'),
        ('int_direct_dial_calls__validated', 'started_at'),
    ] -%}
        {%- if execute and load_relation(ref(model)) is not none -%}
            {%- do events.append((model, event_at)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(events) }}
{%- endmacro %}
