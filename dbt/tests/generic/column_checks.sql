{#-
    A model's column checks in one data test (one dbt node, where dbt's column-level tests
    cost a node per column and check: docs/architecture.md, "What a build costs"). Returns one
    row per FAILING check, never a value of the model:
        check_name    not_null, unique, accepted_values or accepted_range
        column_names  the column, or the columns of a combination (`a, b`)
        failing_rows  rows that fail it (for unique: rows repeating a key held by an earlier
                      row, i.e. rows - distinct keys)

    The checks mean what dbt's tests of the same names mean:
        not_null: [a, b]              no null in a, in b
        unique: [a, [b, c]]           no two rows with the same non-null a (nulls are left out,
                                      as dbt's `unique`); no two rows with the same (b, c)
                                      (nulls compare equal, as dbt_utils'
                                      unique_combination_of_columns)
        accepted_values:              every non-null a is one of the values, written as SQL
          a: [x, y]                   strings ('x', 'y'), as dbt's accepted_values; for
          b: {values: [1, 2], quote: false}   values written as they are, `quote: false`
        accepted_range:               every non-null a lies within [min_value, max_value]
          a: {min_value: 0, max_value: 100}   (either bound optional)

    The model is read once for the not-null, single-column unique, value and range checks (one
    aggregate), and twice for each unique combination: a group by on a 64-bit hash of the
    combination finds the hashes held by more than one row (none, when it is unique), then only
    the rows with those hashes are grouped by the columns themselves, so a hash collision is
    never counted as a repeat. Grouping 8-byte hashes instead of several columns' text takes
    less CPU and memory: the customer keys' combination (about 70 M rows at scale 10) ran out
    of a 2.5 GiB DuckDB as a group by on its columns, and runs within 2 GiB on hashes
    (docs/benchmarks-journal.md, scale 10, "Commits 3228fdf and 1591179"). A single column stays a
    `count(distinct)` in the one aggregate: two more reads of a staging view (which parses the
    raw text each time) cost more than the hash saves. `config: where:` applies to every
    check of the entry (dbt wraps {{ model }} in it; placeholders such as
    `__in_scoped_deliveries__` are replaced by get_where_subquery, macros/incremental_scope.sql):
    checks with another scope are another column_checks entry of the model.

    Usage (properties yml, at model level):
        data_tests:
          - column_checks:
              arguments:
                not_null: [partner_code, month]
                unique: [[partner_code, month]]
                accepted_range:
                  tsf_pct: {min_value: 0, max_value: 100}
-#}
{% test column_checks(model, not_null=none, unique=none, accepted_values=none,
                      accepted_range=none) %}

{%- set checks = [] -%}
{%- set combinations = [] -%}
{%- for column_name in not_null or [] -%}
    {%- do checks.append({
        'check': 'not_null', 'columns': column_name,
        'sql': 'count(*) - count(' ~ column_name ~ ')'}) -%}
{%- endfor -%}
{%- for key in unique or [] -%}
    {%- if key is string -%}
        {%- do checks.append({
            'check': 'unique', 'columns': key,
            'sql': 'count(' ~ key ~ ') - count(distinct ' ~ key ~ ')'}) -%}
    {%- else -%}
        {%- do combinations.append(key) -%}
        {%- do checks.append({
            'check': 'unique', 'columns': key | join(', '),
            'combination': combinations | length}) -%}
    {%- endif -%}
{%- endfor -%}
{%- for column_name, accepted in (accepted_values or {}).items() -%}
    {%- if accepted is mapping -%}
        {%- set values, quote = accepted['values'], accepted.get('quote', true) -%}
    {%- else -%}
        {%- set values, quote = accepted, true -%}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- if quote -%}
            {%- do literals.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
        {%- else -%}
            {%- do literals.append(value | string) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do checks.append({
        'check': 'accepted_values', 'columns': column_name,
        'sql': 'count(case when ' ~ column_name ~ ' not in (' ~ literals | join(', ')
            ~ ') then 1 end)'}) -%}
{%- endfor -%}
{%- for column_name, bounds in (accepted_range or {}).items() -%}
    {%- set outside = [] -%}
    {%- if bounds.get('min_value') is not none -%}
        {%- do outside.append(column_name ~ ' < ' ~ bounds['min_value']) -%}
    {%- endif -%}
    {%- if bounds.get('max_value') is not none -%}
        {%- do outside.append(column_name ~ ' > ' ~ bounds['max_value']) -%}
    {%- endif -%}
    {%- if outside | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            'column_checks: accepted_range of ' ~ column_name ~ ' has no bound') }}
    {%- endif -%}
    {%- do checks.append({
        'check': 'accepted_range', 'columns': column_name,
        'sql': 'count(case when ' ~ outside | join(' or ') ~ ' then 1 end)'}) -%}
{%- endfor -%}
{%- if checks | length == 0 -%}
    {{ exceptions.raise_compiler_error('column_checks names no check') }}
{%- endif -%}

with

row_checks as (

    select
        count(*) as row_count
        {%- for check in checks %}
        {%- if 'sql' in check %},
        {{ check['sql'] }} as check_{{ loop.index }}
        {%- endif %}
        {%- endfor %}
    from {{ model }}

),

{%- for key in combinations %}
{%- set keyed_columns = [] -%}
{%- for column in key -%}
    {%- do keyed_columns.append('keyed.' ~ column) -%}
{%- endfor %}

combination_{{ loop.index }}_hashes as (

    select {{ group_key_hash(key) }} as key_hash
    from {{ model }}
    group by {{ group_key_hash(key) }}
    having count(*) > 1

),

combination_{{ loop.index }}_duplicates as (

    select count(*) as key_rows
    from (select * from {{ model }}) as keyed
    inner join combination_{{ loop.index }}_hashes as hashes
        on {{ group_key_hash(keyed_columns) }} = hashes.key_hash
    group by {{ keyed_columns | join(', ') }}
    having count(*) > 1

),

combination_{{ loop.index }} as (

    select coalesce(sum(key_rows - 1), 0) as repeated_rows
    from combination_{{ loop.index }}_duplicates

),
{%- endfor %}

checks as (

    {%- for check in checks %}
    select
        {{ loop.index }} as check_number,
        '{{ check['check'] }}' as check_name,
        '{{ check['columns'] }}' as column_names
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

counted as (

    select
        checks.check_name,
        checks.column_names,
        case checks.check_number
            {%- for check in checks %}
            when {{ loop.index }} then
                {%- if 'sql' in check %} row_checks.check_{{ loop.index }}
                {%- else %} combination_{{ check['combination'] }}.repeated_rows
                {%- endif %}
            {%- endfor %}
        end as failing_rows
    from checks
    cross join row_checks
    {%- for key in combinations %}
    cross join combination_{{ loop.index }}
    {%- endfor %}

),

final as (

    select
        check_name,
        column_names,
        failing_rows
    from counted
    where failing_rows > 0

)

select * from final

{% endtest %}
