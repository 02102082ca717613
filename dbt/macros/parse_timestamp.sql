{#-
    Parse a text timestamp with a per-row format name.

    DuckDB's strptime/try_strptime need a constant format, so this generates one
    `when '<format>' then <parse with '<format>'>` branch per entry of the project var
    `timestamp_formats` (the parse itself is try_parse_timestamp, macros/portable.sql).
    Unparseable text, or a format not in the list, gives null.
-#}
{% macro parse_timestamp(text_column, format_column) -%}
    case {{ format_column }}
        {%- for timestamp_format in var('timestamp_formats') %}
            when '{{ timestamp_format }}'
                then {{ try_parse_timestamp(text_column, timestamp_format) }}
        {%- endfor %}
    end
{%- endmacro %}
