{#-
    Parse a trimmed text duration into seconds (double) with a per-row format name:
    - `seconds`: a plain number, e.g. 42 or 42.5 (optionally negative);
    - `hms`: H:MM:SS, e.g. 0:01:05 or 00:01:05 (optionally negative, optional fraction).
    Null text gives null; text that does not match the format also gives null (callers tell
    the two apart with the raw text to flag bad durations). Staging trims and blanks-to-null
    the text once before calling this.
-#}
{% macro parse_duration(text_column, format_column) -%}
    case
        when
            {{ format_column }} = 'seconds'
            and {{ matches_regex(text_column, '-?[0-9]+([.][0-9]+)?') }}
            then try_cast({{ text_column }} as double)
        when
            {{ format_column }} = 'hms'
            and {{ matches_regex(text_column, '-?[0-9]+:[0-5][0-9]:[0-5][0-9]([.][0-9]+)?') }}
            then
                (case when {{ has_prefix(text_column, '-') }} then -1 else 1 end)
                * (
                    try_cast(split_part({{ trim_leading(text_column, '-') }}, ':', 1) as double) * 3600
                    + try_cast(split_part({{ text_column }}, ':', 2) as double) * 60
                    + try_cast(split_part({{ text_column }}, ':', 3) as double)
                )
    end
{%- endmacro %}
