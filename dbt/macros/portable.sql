{#-
    SQL that differs between engines, behind dbt's adapter.dispatch (docs/architecture.md,
    "Portable SQL"): models call these macros, never the DuckDB-only form, so the same models
    can run on another engine by adding its `<adapter>__` implementation here.
-#}

{#- The value of `value_column` on the row that sorts first by (order_1, order_2). -#}
{% macro first_by(value_column, order_1, order_2) -%}
    {{ return(adapter.dispatch('first_by', 'hub_warehouse')(value_column, order_1, order_2)) }}
{%- endmacro %}

{% macro duckdb__first_by(value_column, order_1, order_2) -%}
    arg_min({{ value_column }}, ({{ order_1 }}, {{ order_2 }}))
{%- endmacro %}

{#- Spark and Trino: min_by over a row value. -#}
{% macro default__first_by(value_column, order_1, order_2) -%}
    min_by({{ value_column }}, struct({{ order_1 }}, {{ order_2 }}))
{%- endmacro %}

{#- A customer key (32 lowercase hexadecimal digits: the pseudonymiser's keyed hash, docs/crm.md)
    as a value the engine joins, groups and compares without keeping the text: DuckDB's 128-bit
    unsigned integer the digits spell, which sorts as the digits do; on other engines the text
    itself. customer_key_text gives the digits back. -#}
{% macro customer_key_number(key_text) -%}
    {{ return(adapter.dispatch('customer_key_number', 'hub_warehouse')(key_text)) }}
{%- endmacro %}

{% macro duckdb__customer_key_number(key_text) -%}
    cast('0x' || {{ key_text }} as uhugeint)
{%- endmacro %}

{% macro default__customer_key_number(key_text) -%}
    {{ key_text }}
{%- endmacro %}

{% macro customer_key_text(key_number) -%}
    {{ return(adapter.dispatch('customer_key_text', 'hub_warehouse')(key_number)) }}
{%- endmacro %}

{% macro duckdb__customer_key_text(key_number) -%}
    lpad(lower(to_hex({{ key_number }})), 32, '0')
{%- endmacro %}

{% macro default__customer_key_text(key_number) -%}
    {{ key_number }}
{%- endmacro %}

{#- The date `months` months after the date `date_expression` (a first of month stays one). -#}
{% macro add_months(date_expression, months) -%}
    {{ return(adapter.dispatch('add_months', 'hub_warehouse')(date_expression, months)) }}
{%- endmacro %}

{% macro duckdb__add_months(date_expression, months) -%}
    {%- if months == 0 -%}
        {{ date_expression }}
    {%- else -%}
        cast({{ date_expression }} + interval ({{ months }}) month as date)
    {%- endif -%}
{%- endmacro %}

{% macro default__add_months(date_expression, months) -%}
    {%- if months == 0 -%}
        {{ date_expression }}
    {%- else -%}
        add_months({{ date_expression }}, {{ months }})
    {%- endif -%}
{%- endmacro %}

{#- `expression` (a date or timestamp) shifted by `amount` (an integer constant, negative to go
    back) days, hours, minutes or seconds. Calendar units: add_months. -#}
{% macro add_interval(expression, amount, unit) -%}
    {%- if unit not in ('day', 'hour', 'minute', 'second') -%}
        {{ exceptions.raise_compiler_error(
            'add_interval: unit must be day, hour, minute or second (months: add_months), not '
            ~ unit) }}
    {%- endif -%}
    {%- if amount is not number -%}
        {{ exceptions.raise_compiler_error('add_interval: amount must be an integer constant') }}
    {%- endif -%}
    {{ expression }} {{ '-' if amount < 0 else '+' }} {{ interval_literal(amount | abs, unit) }}
{%- endmacro %}

{#- A window frame over the rows ordered by one timestamp: the current row's peers (same
    timestamp) and the rows up to `amount` `unit`s later (day, hour, minute or second; a
    positive integer constant), both ends included. -#}
{% macro range_frame_following(amount, unit) -%}
    {%- if unit not in ('day', 'hour', 'minute', 'second') or amount is not number
            or amount < 1 -%}
        {{ exceptions.raise_compiler_error(
            'range_frame_following: a positive integer amount of day, hour, minute or second') }}
    {%- endif -%}
    range between current row and {{ interval_literal(amount, unit) }} following
{%- endmacro %}

{#- An interval of `amount` (a non-negative integer constant) `unit`s, for add_interval and
    range_frame_following, which check their arguments. -#}
{% macro interval_literal(amount, unit) -%}
    {{ return(adapter.dispatch('interval_literal', 'hub_warehouse')(amount, unit)) }}
{%- endmacro %}

{% macro duckdb__interval_literal(amount, unit) -%}
    interval {{ amount }} {{ unit }}
{%- endmacro %}

{#- Standard SQL (Spark 3.2+, Trino; in a window frame, Trino 360+). -#}
{% macro default__interval_literal(amount, unit) -%}
    interval '{{ amount }}' {{ unit }}
{%- endmacro %}

{#- Month boundaries from `start_date` to `end_date` (2024-01-31 -> 2024-02-01 is 1). -#}
{% macro month_diff(start_date, end_date) -%}
    {{ return(adapter.dispatch('month_diff', 'hub_warehouse')(start_date, end_date)) }}
{%- endmacro %}

{% macro duckdb__month_diff(start_date, end_date) -%}
    date_diff('month', {{ start_date }}, {{ end_date }})
{%- endmacro %}

{% macro default__month_diff(start_date, end_date) -%}
    (
        (year({{ end_date }}) - year({{ start_date }})) * 12
        + month({{ end_date }}) - month({{ start_date }})
    )
{%- endmacro %}

{#- ISO day of the week of a date or timestamp: 1 = Monday .. 7 = Sunday. -#}
{% macro iso_day_of_week(expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'hub_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__iso_day_of_week(expression) -%}
    isodow({{ expression }})
{%- endmacro %}

{#- Spark 3.0+ (Trino: day_of_week(x); beware that Spark's `dow` counts from Sunday). -#}
{% macro default__iso_day_of_week(expression) -%}
    extract(dayofweek_iso from {{ expression }})
{%- endmacro %}

{#- English month name of a date (January). -#}
{% macro month_name(expression) -%}
    {{ return(adapter.dispatch('month_name', 'hub_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__month_name(expression) -%}
    monthname({{ expression }})
{%- endmacro %}

{#- Spark (Trino: date_format(x, '%M')). -#}
{% macro default__month_name(expression) -%}
    date_format({{ expression }}, 'MMMM')
{%- endmacro %}

{#- English day name of a date (Monday). -#}
{% macro day_name(expression) -%}
    {{ return(adapter.dispatch('day_name', 'hub_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__day_name(expression) -%}
    dayname({{ expression }})
{%- endmacro %}

{#- Spark (Trino: date_format(x, '%W')). -#}
{% macro default__day_name(expression) -%}
    date_format({{ expression }}, 'EEEE')
{%- endmacro %}

{#- A select of one row per day from `start_date` to `end_date` (date expressions, both
    included), in one column date_day (date). -#}
{% macro calendar_days(start_date, end_date) -%}
    {{ return(adapter.dispatch('calendar_days', 'hub_warehouse')(start_date, end_date)) }}
{%- endmacro %}

{% macro duckdb__calendar_days(start_date, end_date) -%}
    select cast(series.generate_series as date) as date_day
    from generate_series(
        {{ start_date }},
        {{ end_date }},
        interval 1 day
    ) as series
{%- endmacro %}

{#- Spark (Trino: select date_day from unnest(sequence(start, end)) as series (date_day)). -#}
{% macro default__calendar_days(start_date, end_date) -%}
    select explode(sequence({{ start_date }}, {{ end_date }}, interval 1 day)) as date_day
{%- endmacro %}

{#- A timestamp without time zone read as UTC, as the wall-clock time in `zone` (an IANA name
    or a column holding one). -#}
{% macro utc_to_local(expression, zone) -%}
    {{ return(adapter.dispatch('utc_to_local', 'hub_warehouse')(expression, zone)) }}
{%- endmacro %}

{% macro duckdb__utc_to_local(expression, zone) -%}
    ({{ expression }} at time zone 'UTC') at time zone {{ zone }}
{%- endmacro %}

{#- Spark (Trino: cast(at_timezone(with_timezone(x, 'UTC'), zone) as timestamp)). -#}
{% macro default__utc_to_local(expression, zone) -%}
    from_utc_timestamp({{ expression }}, {{ zone }})
{%- endmacro %}

{#- Text to timestamp with a strftime format (a Jinja string: DuckDB needs a constant), null
    when the text does not match. -#}
{% macro try_parse_timestamp(text, strftime_format) -%}
    {{ return(adapter.dispatch('try_parse_timestamp', 'hub_warehouse')(text, strftime_format)) }}
{%- endmacro %}

{% macro duckdb__try_parse_timestamp(text, strftime_format) -%}
    try_strptime({{ text }}, '{{ strftime_format | replace("'", "''") }}')
{%- endmacro %}

{#- Spark 3.4+: the strftime format as a Java datetime pattern (letters outside directives
    quoted, so the SQL literal is double-quoted when it holds a quote). Trino would use
    try(date_parse(text, <MySQL-style format>)). -#}
{% macro default__try_parse_timestamp(text, strftime_format) -%}
    {%- set directives = {
        'Y': 'yyyy', 'm': 'MM', 'd': 'dd', 'H': 'HH', 'M': 'mm', 'S': 'ss', 'f': 'SSSSSS',
        'y': 'yy', 'b': 'MMM', 'B': 'MMMM', 'p': 'a', 'I': 'hh', 'j': 'DDD', 'a': 'EEE',
        'A': 'EEEE', 'e': 'd', '%': '%',
    } -%}
    {%- set state = namespace(pattern='', directive=false) -%}
    {%- for character in strftime_format -%}
        {%- if state.directive -%}
            {%- set state.pattern = state.pattern ~ directives[character] -%}
            {%- set state.directive = false -%}
        {%- elif character == '%' -%}
            {%- set state.directive = true -%}
        {%- elif character.isalpha() -%}
            {%- set state.pattern = state.pattern ~ "'" ~ character ~ "'" -%}
        {%- else -%}
            {%- set state.pattern = state.pattern ~ character -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set quote = '"' if "'" in state.pattern else "'" -%}
    try_to_timestamp({{ text }}, {{ quote }}{{ state.pattern }}{{ quote }})
{%- endmacro %}

{#- True when the whole text matches the regular expression `pattern` (a Jinja string; keep
    it free of backslashes, e.g. [.] for a dot: Spark unescapes them in string literals). -#}
{% macro matches_regex(text, pattern) -%}
    {{ return(adapter.dispatch('matches_regex', 'hub_warehouse')(text, pattern)) }}
{%- endmacro %}

{% macro duckdb__matches_regex(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}

{#- Spark 3.2+ and Trino: regexp_like finds a match anywhere, so anchor the pattern. -#}
{% macro default__matches_regex(text, pattern) -%}
    regexp_like({{ text }}, '^(?:{{ pattern }})$')
{%- endmacro %}

{#- True when `text` holds a control character: a C0 code (NUL to US, U+0000-U+001F, tab and
    line breaks included) or DEL (U+007F). docs/architecture.md, "Delivery rules". -#}
{% macro has_control_character(text) -%}
    {{ return(adapter.dispatch('has_control_character', 'hub_warehouse')(text)) }}
{%- endmacro %}

{% macro duckdb__has_control_character(text) -%}
    regexp_matches({{ text }}, '[\x00-\x1f\x7f]')
{%- endmacro %}

{#- Trino: regexp_like finds a match anywhere (Spark would need the backslashes doubled). -#}
{% macro default__has_control_character(text) -%}
    regexp_like({{ text }}, '[\x00-\x1f\x7f]')
{%- endmacro %}

{#- `text` with every run of control characters (see has_control_character) replaced by one
    space. -#}
{% macro strip_control_characters(text) -%}
    {{ return(adapter.dispatch('strip_control_characters', 'hub_warehouse')(text)) }}
{%- endmacro %}

{% macro duckdb__strip_control_characters(text) -%}
    regexp_replace({{ text }}, '[\x00-\x1f\x7f]+', ' ', 'g')
{%- endmacro %}

{% macro default__strip_control_characters(text) -%}
    regexp_replace({{ text }}, '[\x00-\x1f\x7f]+', ' ')
{%- endmacro %}

{#- True when `text` begins with `prefix` (a Jinja string). -#}
{% macro has_prefix(text, prefix) -%}
    {{ return(adapter.dispatch('has_prefix', 'hub_warehouse')(text, prefix)) }}
{%- endmacro %}

{% macro duckdb__has_prefix(text, prefix) -%}
    starts_with({{ text }}, '{{ prefix }}')
{%- endmacro %}

{#- Spark has startswith (3.3+), Trino starts_with: substr works in both. -#}
{% macro default__has_prefix(text, prefix) -%}
    substr({{ text }}, 1, {{ prefix | length }}) = '{{ prefix }}'
{%- endmacro %}

{#- `text` without the leading characters that are in `characters` (a Jinja string). -#}
{% macro trim_leading(text, characters) -%}
    {{ return(adapter.dispatch('trim_leading', 'hub_warehouse')(text, characters)) }}
{%- endmacro %}

{% macro duckdb__trim_leading(text, characters) -%}
    ltrim({{ text }}, '{{ characters }}')
{%- endmacro %}

{#- Standard SQL (Spark, Trino; Trino's ltrim takes no characters). -#}
{% macro default__trim_leading(text, characters) -%}
    trim(leading '{{ characters }}' from {{ text }})
{%- endmacro %}

{#- Between a CTE's name and its body: compute the CTE where it is used, never store it. DuckDB
    stores (materialises) a CTE read more than once, every column of every row; the wide ones
    of the validation models then spilled gigabytes at scale. Spark and Trino inline CTEs. -#}
{% macro inline_cte() -%}
    {{ return(adapter.dispatch('inline_cte', 'hub_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__inline_cte() -%}
    not materialized
{%- endmacro %}

{% macro default__inline_cte() -%}
{%- endmacro %}

{#- Between a CTE's name and its body: compute the CTE once and store it. For a computed CTE
    (parsed, checked, hashed rows) read twice, where computing it twice costs more than storing
    it: the validation models' `checked`, read by the duplicate check and by the rows' own
    statuses. Without it DuckDB stored the wide staging rows beneath it instead and computed
    the checks and the fingerprint twice (docs/benchmarks-journal.md, "the validation models'
    checked rows stored once"). Trino and Spark have no such hint and decide themselves. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'hub_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__materialized_cte() -%}
    materialized
{%- endmacro %}

{% macro default__materialized_cte() -%}
{%- endmacro %}

{#- A hash of the values of `columns` (SQL expressions) to group rows by their combination,
    nulls compared equal: equal combinations hash alike, different ones almost never do
    (column_checks groups the rows of a repeated hash by the columns themselves). DuckDB's
    `hash` is a 64-bit integer, grouped for less CPU and memory than the columns' text;
    elsewhere the row fingerprint (md5 text). -#}
{% macro group_key_hash(columns) -%}
    {{ return(adapter.dispatch('group_key_hash', 'hub_warehouse')(columns)) }}
{%- endmacro %}

{% macro duckdb__group_key_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro default__group_key_hash(columns) -%}
    {{ row_fingerprint(columns) }}
{%- endmacro %}


{#- Whole seconds from `start` to `end` (timestamps); null when either is null. -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between', 'hub_warehouse')(start, end)) }}
{%- endmacro %}

{% macro duckdb__seconds_between(start, end) -%}
    cast(epoch({{ end }}) - epoch({{ start }}) as bigint)
{%- endmacro %}

{% macro default__seconds_between(start, end) -%}
    {{ dbt.datediff(start, end, 'second') }}
{%- endmacro %}

{#- A scratch table of the model being built (`name`: <model>__<what>; customer identity's
    graph, the validation models' redone ids), written by the model's pre-hook, read by its
    select and dropped by its post-hook, all on the model's one connection. `temporary`: a
    table of that connection alone, never written to the database file (no compression, no
    log, no checkpoint: an incremental build's scratch tables are small, and DuckDB spills
    them past its memory limit); otherwise a table of the model's schema (a full build's graph
    holds every contact, and is stored compressed). Trino and Spark: a table of the schema. -#}
{% macro scratch_relation(name, temporary) -%}
    {{ return(adapter.dispatch('scratch_relation', 'hub_warehouse')(name, temporary)) }}
{%- endmacro %}

{% macro duckdb__scratch_relation(name, temporary) -%}
    {{ 'temp.main' if temporary else this.schema }}.{{ name }}
{%- endmacro %}

{% macro default__scratch_relation(name, temporary) -%}
    {{ this.schema }}.{{ name }}
{%- endmacro %}

{#- The start of the statement writing a scratch table (scratch_relation) from the select that
    follows it: `create or replace [temporary] table <relation> as`. -#}
{% macro create_scratch_table_as(relation, temporary) -%}
    {{ return(adapter.dispatch('create_scratch_table_as', 'hub_warehouse')(relation, temporary)) }}
{%- endmacro %}

{% macro duckdb__create_scratch_table_as(relation, temporary) -%}
    create or replace {{ 'temporary ' if temporary }}table {{ relation }} as
{%- endmacro %}

{% macro default__create_scratch_table_as(relation, temporary) -%}
    create or replace table {{ relation }} as
{%- endmacro %}
