{#-
    Parse a text timestamp with a per-row format.

    DuckDB's strptime/try_strptime need a constant format, so this generates one
    `when '<format>' then <parse with '<format>'>` branch per known format: the project var
    `timestamp_formats` and every format of raw.partner_sources (the partners' YAML), read
    when the model runs (the parse itself is try_parse_timestamp, macros/portable.sql).
    Unparseable text gives null.
-#}
{% macro parse_timestamp(text_column, format_column) -%}
    case {{ format_column }}
        {%- for timestamp_format in known_timestamp_formats() %}
            when '{{ timestamp_format | replace("'", "''") }}'
                then {{ try_parse_timestamp(text_column, timestamp_format) }}
        {%- endfor %}
    end
{%- endmacro %}

{#- The var's formats, then the configured ones (sorted, no duplicates). The configuration
    table is found through the source's node, not source(), so that a dbt unit test (whose
    sources are fixtures) still compiles every configured format. -#}
{% macro known_timestamp_formats() -%}
    {%- set formats = [] -%}
    {%- for timestamp_format in var('timestamp_formats') -%}
        {%- do formats.append(timestamp_format) -%}
    {%- endfor -%}
    {%- if execute and graph.get('sources') -%}
        {%- set node = graph.sources.values()
            | selectattr('source_name', 'equalto', 'raw')
            | selectattr('name', 'equalto', 'partner_sources') | first -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.identifier) -%}
        {%- if relation is not none -%}
            {%- set selects = [] -%}
            {%- for column in ['timestamp_format', 'started_at_format', 'created_at_format',
                               'resolved_at_format', 'responded_at_format', 'left_at_format',
                               'issued_at_format', 'called_at_format', 'finished_at_format',
                               'visit_date_format'] -%}
                {%- do selects.append('select ' ~ column ~ ' as timestamp_format from '
                                      ~ relation) -%}
            {%- endfor -%}
            {%- set rows = run_query(
                'select distinct timestamp_format from (' ~ selects | join(' union all ')
                ~ ') as configured where timestamp_format is not null order by 1') -%}
            {%- for row in rows -%}
                {%- if row[0] not in formats -%}
                    {%- do formats.append(row[0]) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(formats) }}
{%- endmacro %}

{#- A parsed event time outside the sanity window: before var earliest_timestamp, or later
    than the row's load time plus one day (a clock or format error, not an event). -#}
{% macro is_timestamp_out_of_range(timestamp_column, loaded_at_column) -%}
    (
        {{ timestamp_column }} < cast('{{ var("earliest_timestamp") }}' as timestamp)
        or {{ timestamp_column }} > {{ add_interval(loaded_at_column, 1, 'day') }}
    )
{%- endmacro %}
