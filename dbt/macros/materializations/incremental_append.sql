{#-
    dbt-duckdb's `incremental` materialization, with the append strategy (dbt_project.yml: every
    incremental model but customer identity) writing the model's rows once: straight into the
    table. dbt-duckdb first writes them into a temporary table, compares its columns with the
    table's, then copies them across, so each incremental build wrote its rows twice (at
    national scale the call validation's copy alone took 9.9 s of a new month;
    docs/benchmarks-journal.md). The first build, `--full-refresh` and other strategies are
    dbt-duckdb's own, unchanged.

    `on_schema_change: fail` is kept for the column names: the model's (the compiled query's,
    found by planning it without rows) must be the table's, in order, or the build fails before
    writing; a changed type is cast on insert or fails there. (A changed model never gets here
    in practice: a project change makes `hub build` rebuild everything, docs/architecture.md
    "Incremental builds".) Not applied here: grants and indexes, which the project has none of.
-#}
{% materialization incremental, adapter='duckdb', supported_languages=['sql'] -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- if existing_relation is none or existing_relation.is_view or should_full_refresh()
          or config.get('incremental_strategy') != 'append' -%}
        {{ return(dbt.materialization_incremental_duckdb()) }}
    {%- endif -%}
    {%- set target_relation = this.incorporate(type='table') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    -- `BEGIN` happens here:
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set model_columns = get_columns_in_query(compiled_code) -%}
    {%- set table_columns = adapter.get_columns_in_relation(existing_relation)
                            | map(attribute='name') | list -%}
    {%- if model_columns | map('lower') | list != table_columns | map('lower') | list -%}
        {%- do exceptions.raise_compiler_error(
            'The columns of ' ~ this ~ ' changed (' ~ table_columns | join(', ') ~ ' -> '
            ~ model_columns | join(', ') ~ '): on_schema_change is fail; rebuild with '
            ~ 'hub build --full-refresh') -%}
    {%- endif -%}
    {%- set column_list -%}
        {%- for name in table_columns -%}{{ adapter.quote(name) }}{{ ', ' if not loop.last }}{%- endfor -%}
    {%- endset %}

    {% call statement('main') -%}
        insert into {{ target_relation }} ({{ column_list }})
        select {{ column_list }} from (
            {{ compiled_code }}
        ) as model_rows
    {%- endcall %}

    {% do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    -- `COMMIT` happens here
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}
