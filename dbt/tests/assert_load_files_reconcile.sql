-- Every telephony and crm file in raw.load_files: rows_loaded = its rows in
-- raw.telephony_calls or raw.crm_contacts,
-- rows_rejected = its lines in raw.rejected_rows, rows_read = rows_loaded + rows_rejected,
-- and its raw rows + rejected lines + line breaks inside quoted fields = file_lines, the data
-- lines of the file counted apart from the CSV reader (docs/architecture.md, "Line
-- accounting"; null for a file loaded before lines were counted).
-- In an incremental build only the files of the deliveries in scope are checked (the others
-- were checked when they were loaded; a build that failed makes the next one full).
-- Returns the files whose counts disagree.
-- Reported in Dagster as an asset check on stg_loads__files.
{{ config(meta={'dagster': {'ref': {'name': 'stg_loads__files'}}}) }}
{%- set in_scope = tested_deliveries_predicate() %}

with

load_files as (

    select * from {{ ref('stg_loads__files') }}
    where source in ('telephony', 'crm') and {{ in_scope }}

),

calls as (

    select * from {{ ref('stg_telephony__calls') }}
    where {{ in_scope }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}
    where {{ in_scope }}

),

rejected_rows as (

    select * from {{ ref('stg_loads__rejected_rows') }}
    where source in ('telephony', 'crm') and {{ in_scope }}

),

loaded_rows as (

    select
        partner_code,
        'telephony' as source,
        delivery_key
    from calls

    union all

    select
        partner_code,
        'crm' as source,
        delivery_key
    from contacts

),

loaded_counts as (

    select
        partner_code,
        source,
        delivery_key,
        count(*) as row_count
    from loaded_rows
    group by partner_code, source, delivery_key

),

rejected_counts as (

    select
        partner_code,
        source,
        delivery_key,
        count(*) as row_count
    from rejected_rows
    group by partner_code, source, delivery_key

),

final as (

    select
        load_files.partner_code,
        load_files.source,
        load_files.delivery_key,
        load_files.rows_read,
        load_files.rows_loaded,
        load_files.rows_rejected,
        load_files.file_lines,
        load_files.quoted_line_breaks,
        coalesce(loaded_counts.row_count, 0) as raw_rows,
        coalesce(rejected_counts.row_count, 0) as rejected_lines
    from load_files
    left join loaded_counts
        on
            load_files.partner_code = loaded_counts.partner_code
            and load_files.source = loaded_counts.source
            and load_files.delivery_key = loaded_counts.delivery_key
    left join rejected_counts
        on
            load_files.partner_code = rejected_counts.partner_code
            and load_files.source = rejected_counts.source
            and load_files.delivery_key = rejected_counts.delivery_key
    where
        load_files.rows_loaded != coalesce(loaded_counts.row_count, 0)
        or load_files.rows_rejected != coalesce(rejected_counts.row_count, 0)
        or load_files.rows_read != load_files.rows_loaded + load_files.rows_rejected
        or coalesce(loaded_counts.row_count, 0) + coalesce(rejected_counts.row_count, 0)
        + coalesce(load_files.quoted_line_breaks, 0)
        != coalesce(load_files.file_lines, load_files.rows_read)

)

select * from final
