{#-
    Incremental builds by partner and month (docs/architecture.md, "Incremental builds").

    dagster_project.build_scope writes the plan of a build into the `build` schema before dbt
    runs. Row-level models (int_calls__validated, fct_calls, int_contacts__validated) are
    redone by delivery: a pre-hook deletes the rows of every delivery in scope, then the
    model appends those deliveries' rows as they are now. Aggregates (daily, monthly, the
    scorecard) are redone by partner and month: a pre-hook deletes the months in scope, the
    model appends them recomputed. A full build (`hub build --full-refresh`, a first build, a
    changed project) rebuilds every table from scratch and ignores the plan.
-#}

{#- A predicate: the row of `relation` (columns partner_code, delivery_key) belongs to a
    delivery this build redoes. Always true in a full build.

    The deliveries are read when the model runs and written into the SQL as values: a filter on
    constants reaches the scan of the stored table under a staging view (its zone maps skip
    the row groups of other deliveries), where a join with the scope table stayed above the
    view and parsed every stored row first (docs/architecture.md, "What a build costs"). -#}
{% macro in_scoped_delivery(source, relation) -%}
    {%- if is_incremental() -%}
        {%- set prefix = relation ~ '.' -%}
        {%- set scoped = scoped_deliveries(source) -%}
        {%- if scoped | length == 0 -%}
            false
        {%- else -%}
            (
                {{ prefix }}partner_code in ({{ sql_values(scoped | map(attribute=0) | unique) }})
                and {{ prefix }}delivery_key in ({{ sql_values(scoped | map(attribute=1) | unique) }})
                and ({{ prefix }}partner_code, {{ prefix }}delivery_key) in (
                    {%- for row in scoped %}
                    ({{ sql_values(row) }}){% if not loop.last %},{% endif %}
                    {%- endfor %}
                )
            )
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The (partner_code, delivery_key) pairs of `source` this build redoes, from the plan
    (stg_build__scope_deliveries); empty while dbt only parses. -#}
{% macro scoped_deliveries(source) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select distinct partner_code, delivery_key
        from {{ ref('stg_build__scope_deliveries') }}
        where source = '{{ source }}'
        order by partner_code, delivery_key
    {%- endset -%}
    {{ return(run_query(query).rows | map('list') | list) }}
{%- endmacro %}

{#- Text values as SQL string literals, separated by commas (quotes doubled). -#}
{% macro sql_values(values) -%}
    {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}

{#- A predicate: `month_column` of `relation` is a month in scope (int_build__scope_months)
    of the same partner, or `shifts` months after one (e.g. [0, 1]: the month in scope and the
    next); with any_partner, a month in scope of any partner (the scorecard ranks partners
    within a month, so it redoes whole months); with changed_rows_only, only the months with
    changed rows. With timestamp, `month_column` is a timestamp whose month is compared.
    Always true in a full build.

    As for deliveries, the months are read when the model runs and written as values, with
    their range: a filter on constants skips the row groups of other months (zone maps) and
    needs no join, where a correlated join with the scope table first collected every distinct
    value of the column, for a timestamp every row (docs/benchmarks-journal.md, "Scale 10"). A model
    that filters many relations by the same scope reads it once with scoped_months(shifts,
    changed_rows_only) and passes it as `months` (one query instead of one per call; `shifts`
    and `changed_rows_only` then say nothing more). `scope` names the model holding the months:
    int_build__scope_months (every source), or int_build__scope_call_months for the models that
    read calls alone (their months do not follow the contacts' customers). -#}
{% macro in_scoped_month(relation, month_column, shifts=[0], any_partner=false,
                         changed_rows_only=false, timestamp=false, months=none,
                         scope='int_build__scope_months') -%}
    {%- if is_incremental() -%}
        {%- set prefix = relation ~ '.' -%}
        {%- if months is none -%}
            {%- set months = scoped_months(shifts, changed_rows_only, scope) -%}
        {%- endif -%}
        {%- if months | length == 0 -%}
            false
        {%- else -%}
            {%- set first = months | map(attribute=1) | min -%}
            {%- set last = months | map(attribute=1) | max -%}
            {%- if timestamp -%}
                {%- set month_of_row = "cast(date_trunc('month', " ~ prefix ~ month_column
                    ~ ") as date)" -%}
            {%- else -%}
                {%- set month_of_row = prefix ~ month_column -%}
            {%- endif -%}
            (
                {% if timestamp -%}
                {{ prefix }}{{ month_column }} >= cast(date '{{ first }}' as timestamp)
                and {{ prefix }}{{ month_column }}
                < cast({{ add_months("date '" ~ last ~ "'", 1) }} as timestamp)
                {%- else -%}
                {{ month_of_row }} between date '{{ first }}' and date '{{ last }}'
                {%- endif %}
                {% if any_partner -%}
                and {{ month_of_row }} in (
                    {%- for month in months | map(attribute=1) | unique -%}
                    date '{{ month }}'{% if not loop.last %}, {% endif %}
                    {%- endfor -%}
                )
                {%- else -%}
                and {{ prefix }}partner_code in ({{ sql_values(months | map(attribute=0) | unique) }})
                and ({{ prefix }}partner_code, {{ month_of_row }}) in (
                    {%- for row in months %}
                    ('{{ row[0] | replace("'", "''") }}', date '{{ row[1] }}')
                    {%- if not loop.last %},{% endif %}
                    {%- endfor %}
                )
                {%- endif %}
            )
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The (partner_code, month as 'YYYY-MM-DD') pairs in scope (the model `scope`, by default
    int_build__scope_months), each shifted by every one of `shifts` months; empty while dbt
    only parses (a model that calls it names `scope` in a `depends_on` comment). -#}
{% macro scoped_months(shifts=[0], changed_rows_only=false, scope='int_build__scope_months') -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        {%- for shift in shifts %}
        select
            partner_code,
            cast({{ add_months("month", shift) }} as {{ dbt.type_string() }}) as month
        from {{ ref(scope) }}
        {% if changed_rows_only -%}
        where has_changed_rows
        {%- endif %}
        {% if not loop.last %}union{% endif %}
        {%- endfor %}
        order by 1, 2
    {%- endset -%}
    {{ return(run_query(query).rows | map('list') | list) }}
{%- endmacro %}

{#- Pre-hook of a row-level incremental model: delete the rows of the deliveries in scope. -#}
{% macro delete_scoped_deliveries(source) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ in_scoped_delivery(source, this.identifier) }}
    {%- endif -%}
{%- endmacro %}

{#- A scratch table of the model being built, <model>__<name>, written and dropped by its hooks
    (customer identity's graph, the validation models' redone ids): in an incremental build a
    temporary table of the model's connection, in a full build a table of the model's schema
    (scratch_relation, macros/portable.sql). -#}
{% macro scratch_table(name) -%}
    {{ scratch_relation(this.identifier ~ '__' ~ name, is_incremental()) }}
{%- endmacro %}

{#- `create or replace [temporary] table <scratch table> as`, for the select that follows. -#}
{% macro create_scratch_table(relation) -%}
    {{ return(create_scratch_table_as(relation, is_incremental()) ~ ' ') }}
{%- endmacro %}

{#- Drop the scratch table <model>__<name>, whichever kind: a post-hook runs once the model's
    table exists, so is_incremental() is true there even in the model's first build, whose
    scratch tables were of its schema. -#}
{% macro drop_scratch_table(name) -%}
    drop table if exists {{ scratch_relation(this.identifier ~ '__' ~ name, true) }};
    drop table if exists {{ scratch_relation(this.identifier ~ '__' ~ name, false) }};
{%- endmacro %}

{#- Incremental only: a validation model's scratch table <model>__redone_ids holding the
    (partner_code, <id>) of the rows of the deliveries this build redoes, written by its
    pre-hook and dropped by its post-hook. The stored rows sharing an id with them (a possible
    duplicate) are looked up in this table, not in the model's own computed rows: the engine
    knows a table's row count, so its hash join builds on the redone ids; on the computed rows
    it guesses, and at national scale it guessed 253 M for 5.2 M and built its hash table on
    the 68.9 M stored calls instead (docs/benchmarks-journal.md, "Why the national month's call
    validation is slow"). -#}
{% macro redone_ids_table() -%}
    {{ scratch_table('redone_ids') }}
{%- endmacro %}

{% macro create_redone_ids(source, relation, id_column) -%}
    {%- if is_incremental() -%}
        {{ create_scratch_table(redone_ids_table()) }}
        select partner_code, {{ id_column }}
        from {{ relation }}
        where {{ in_scoped_delivery(source, relation) }}
    {%- endif -%}
{%- endmacro %}

{% macro drop_redone_ids() -%}
    {{ drop_scratch_table('redone_ids') }}
{%- endmacro %}

{#- Pre-hook of a monthly incremental model: delete the partner-months in scope (with
    changed_rows_only, only the months with changed rows: a model whose figures do not depend
    on the contacts' customers). -#}
{% macro delete_scoped_months(month_column, shifts=[0], any_partner=false,
                              changed_rows_only=false, scope='int_build__scope_months') -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ in_scoped_month(this.identifier, month_column, shifts, any_partner,
                                 changed_rows_only, scope=scope) }}
    {%- endif -%}
{%- endmacro %}

{#- The id of this build (stg_build__plan), for rows an incremental model marks as changed. -#}
{% macro current_build_id() -%}
    (select build_id from {{ ref('stg_build__plan') }})
{%- endmacro %}

{#- Post-hook of int_customers__resolved: contacts that are no longer valid leave it (only a
    contact of a redone delivery can be one: its stored delivery_key narrows the search). -#}
{% macro delete_invalid_customers() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            {{ in_scoped_delivery('crm', this.identifier) }}
            and not exists (
                select 1
                from {{ ref('int_contacts__validated') }} as contacts
                where
                    contacts.record_status = 'valid'
                    and contacts.contact_id = {{ this.identifier }}.contact_id
            )
    {%- endif -%}
{%- endmacro %}

{#- A predicate for contact-level facts: the contact of `relation` (columns partner_code,
    `month_column`, customer_id) is redone by this build: its month has changed rows, or its
    customer was merged or split (int_build__scope_customers). Always true in a full build. -#}
{% macro in_scoped_contacts(relation, month_column) -%}
    {%- if is_incremental() -%}
        (
            {{ in_scoped_month(relation, month_column, changed_rows_only=true) }}
            or exists (
                select 1
                from {{ ref('int_build__scope_customers') }} as scope_customers
                where scope_customers.customer_id = {{ relation }}.customer_id
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- A predicate for the stored contacts (alias `relation`) a contact-level model reads in an
    incremental build: those of the months next to a month with changed rows (the flags'
    context: duplicate cases look back 60 minutes, repeat contact 7 days ahead) and every
    contact of a customer in int_build__scope_customers. Always true in a full build. -#}
{% macro in_contact_window(relation) -%}
    {%- if is_incremental() -%}
        (
            {{ in_scoped_month(
                relation, 'created_at', shifts=[-1, 0, 1], changed_rows_only=true,
                timestamp=true
            ) }}
            or {{ relation }}.contact_id in (
                select resolved.contact_id
                from {{ ref('int_customers__resolved') }} as resolved
                inner join {{ ref('int_build__scope_customers') }} as scope_customers
                    on resolved.customer_id = scope_customers.customer_id
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a contact-level fact: delete the contacts this build redoes. -#}
{% macro delete_scoped_contacts(month_column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ in_scoped_contacts(this.identifier, month_column) }}
    {%- endif -%}
{%- endmacro %}

{#- The customer ids dim_customer redoes (a select of one column): those in
    int_build__scope_customers (merged, split, or with a contact in a redone delivery before
    this build) and those of the contacts of the redone deliveries now. A customer row reads
    only what a delivery states about its contacts (dates, partner, channel, service, feedback
    type), never their flags, so the other contacts of a month in scope change no customer. -#}
{% macro scoped_customer_ids() -%}
    select customer_id from {{ ref('int_build__scope_customers') }}
    union
    select resolved.customer_id
    from {{ ref('int_contacts__validated') }} as contacts
    inner join {{ ref('int_customers__resolved') }} as resolved
        on contacts.contact_id = resolved.contact_id
    where {{ in_scoped_delivery('crm', 'contacts') }}
{%- endmacro %}

{#- Pre-hook of dim_customer: delete the customers this build redoes. -#}
{% macro delete_scoped_customers() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where customer_id in ({{ scoped_customer_ids() }})
    {%- endif -%}
{%- endmacro %}

{#- A predicate for a data test: the row of `relation` (columns `partner_column`,
    `file_column`) comes from a file of a delivery this build redoes; `true` in a full build.
    Singular tests are not incremental models (is_incremental() is false in them), so the plan
    is read when the test runs (tests_every_row), as the scoped tests' `where` is: a subquery
    on the plan's mode joined by `or` to the files' filter was evaluated for every row, in a
    full build too. A test using it names its refs in `depends_on` hints (while dbt parses,
    the predicate is `true`). -#}
{% macro in_scoped_files(source, relation, partner_column='partner_code',
                         file_column='source_file') -%}
    {%- if tests_every_row() -%}
        true
    {%- else -%}
        ({{ relation }}.{{ partner_column }}, {{ relation }}.{{ file_column }}) in (
            select (scoped_files.partner_code, scoped_files.source_file)
            from {{ ref('stg_loads__files') }} as scoped_files
            inner join {{ ref('stg_build__scope_deliveries') }} as scope
                on
                    scoped_files.partner_code = scope.partner_code
                    and scoped_files.source = scope.source
                    and scoped_files.delivery_key = scope.delivery_key
            where scoped_files.source = '{{ source }}'
        )
    {%- endif -%}
{%- endmacro %}

{#- True while dbt only parses, in a full build and before any plan: a data test then checks
    every row. Read from the build schema when the test runs (tests are not incremental models). -#}
{% macro tests_every_row() -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set modes = run_query('select mode from build.plan').columns[0].values() -%}
    {{ return(modes | length == 0 or modes[0] == 'full') }}
{%- endmacro %}

{#- Data tests of incremental models check, in an incremental build, only the rows it redid:
    their `where` config names a placeholder that this override of dbt's get_where_subquery
    replaces when the test runs (the documented way to a dynamic `where`):

    - `__in_scoped_deliveries__`: the row's (partner_code, delivery_key) is a delivery of
      build.scope_deliveries, written as values (as in_scoped_delivery: the filter reaches the
      scan of the stored table and its zone maps; a subquery joined by `or` with the plan's mode
      made every test read every stored row); `true` in a full build.
    - `__in_scoped_contacts__`: the contact (columns partner_code, created_month, customer_id)
      is one this build redid, as in_scoped_contacts: its month has changed rows (written as
      values) or its customer is in int_build__scope_customers; `true` in a full build. A new
      month relabels customers whose contacts lie in every month, so the months in scope are
      all of them (int_build__scope_months) where the rows redone are the month's and those
      customers' only.

    Placeholders are replaced before dbt wraps the model in its subquery; a `where` without
    one is used as written. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- if '__in_scoped_deliveries__' in where -%}
            {%- set where = where | replace('__in_scoped_deliveries__',
                                            tested_deliveries_predicate()) -%}
        {%- endif -%}
        {%- if '__in_scoped_contacts__' in where -%}
            {%- set where = where | replace('__in_scoped_contacts__',
                                            tested_contacts_predicate()) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{#- The predicate `__in_scoped_deliveries__` stands for (see get_where_subquery). Tests are not
    incremental models: the plan is read from the build schema when the test runs. -#}
{% macro tested_deliveries_predicate() -%}
    {%- if tests_every_row() -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set scoped = run_query(
        'select distinct partner_code, delivery_key from build.scope_deliveries order by 1, 2'
    ).rows | map('list') | list -%}
    {%- if scoped | length == 0 -%}
        {{ return('false') }}
    {%- endif -%}
    {%- set predicate -%}
        (
            partner_code in ({{ sql_values(scoped | map(attribute=0) | unique) }})
            and delivery_key in ({{ sql_values(scoped | map(attribute=1) | unique) }})
            and (partner_code, delivery_key) in (
                {%- for row in scoped %}
                ({{ sql_values(row) }}){% if not loop.last %},{% endif %}
                {%- endfor %}
            )
        )
    {%- endset -%}
    {{ return(predicate) }}
{%- endmacro %}

{#- The predicate `__in_scoped_contacts__` stands for (see get_where_subquery), read from the
    build schema and the scope models when the test runs. -#}
{% macro tested_contacts_predicate() -%}
    {%- if tests_every_row() -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set schema = generate_schema_name('intermediate', none) | trim -%}
    {%- set months = run_query(
        'select distinct partner_code, cast(month as ' ~ dbt.type_string() ~ ') from '
        ~ schema ~ '.int_build__scope_months where has_changed_rows order by 1, 2'
    ).rows | map('list') | list -%}
    {%- set predicate -%}
        (
            {% if months | length > 0 -%}
            (partner_code, created_month) in (
                {%- for row in months %}
                ('{{ row[0] | replace("'", "''") }}', date '{{ row[1] }}')
                {%- if not loop.last %},{% endif %}
                {%- endfor %}
            )
            or {% endif -%}
            customer_id in (
                select scope_customers.customer_id
                from {{ schema }}.int_build__scope_customers as scope_customers
            )
        )
    {%- endset -%}
    {{ return(predicate) }}
{%- endmacro %}
