-- Row accounting (docs/crm.md): every delivered CRM data line is in exactly one of
-- raw.rejected_rows (malformed), quality.quarantine_contacts, quality.excluded_contacts and
-- fct_contacts.
-- Returns, per partner x source file, the counts that disagree: lines read by the loader
-- (raw.load_files.rows_read) against rejected + quarantined + excluded + valid rows, and raw
-- rows against quarantined + excluded + valid rows. A raw row in both or neither also shows
-- as a mismatch.
-- An incremental build checks the files of the deliveries it redid (every row of the others
-- is as the build that checked them left it; the blocking Dagster check `contacts_reconcile`
-- still counts every row per partner); a full build checks every file.
-- Reported in Dagster as an asset check on fct_contacts.
{{ config(meta={'dagster': {'ref': {'name': 'fct_contacts'}}}) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

load_files as (

    select loaded.* from {{ ref('stg_loads__files') }} as loaded
    where loaded.source = 'crm' and {{ in_scoped_files('crm', 'loaded') }}

),

raw_contacts as (

    select contacts.* from {{ source('raw', 'crm_contacts') }} as contacts
    where {{ in_scoped_files('crm', 'contacts', file_column='_source_file') }}

),

rejected_rows as (

    select rejected.* from {{ ref('stg_loads__rejected_rows') }} as rejected
    where rejected.source = 'crm' and {{ in_scoped_files('crm', 'rejected') }}

),

quarantine_contacts as (

    select quarantined.* from {{ ref('quarantine_contacts') }} as quarantined
    where {{ in_scoped_files('crm', 'quarantined') }}

),

excluded_contacts as (

    select excluded.* from {{ ref('excluded_contacts') }} as excluded
    where {{ in_scoped_files('crm', 'excluded') }}

),

fct_contacts as (

    select contacts.* from {{ ref('fct_contacts') }} as contacts
    where {{ in_scoped_files('crm', 'contacts') }}

),

raw_rows as (

    select
        partner_code,
        _source_file as source_file,
        _row_number as source_row_number
    from raw_contacts

),

-- the large inputs first: DuckDB 2.0's grouping after a union whose first inputs are small
-- (the quarantined and excluded rows) did not spill its hash table, and a scale-10 full build
-- ran out of memory here (docs/benchmarks-journal.md, "The row accounting's memory")
accounted_rows as (

    select
        partner_code,
        source_file,
        source_row_number
    from fct_contacts

    union all

    select
        partner_code,
        source_file,
        source_row_number
    from quarantine_contacts

    union all

    select
        partner_code,
        source_file,
        source_row_number
    from excluded_contacts

),

-- each raw row and each accounted row, counted by (partner, file, row): one grouping, which
-- spills to disk, where a full outer join of the two followed by a grouping of its result
-- needed both hash tables in memory at once
tagged_rows as (

    select
        partner_code,
        source_file,
        source_row_number,
        true as is_raw
    from raw_rows

    union all

    select
        partner_code,
        source_file,
        source_row_number,
        false as is_raw
    from accounted_rows

),

-- a row is unmatched unless it is in raw exactly once and accounted for exactly once (a raw
-- row in none or several of the outcomes, an accounted row with no raw row)
unmatched_rows as (

    select
        partner_code,
        source_file,
        source_row_number,
        count(*) filter (where not is_raw) as accounted_count
    from tagged_rows
    group by partner_code, source_file, source_row_number
    having
        count(*) filter (where is_raw) != 1
        or count(*) filter (where not is_raw) != 1

),

file_lines as (

    select
        partner_code,
        source_file
    from rejected_rows

    union all

    select
        partner_code,
        source_file
    from accounted_rows

),

file_counts as (

    select
        partner_code,
        source_file,
        count(*) as line_count
    from file_lines
    group by partner_code, source_file

),

file_mismatches as (

    select
        load_files.rows_read,
        file_counts.line_count as accounted_lines,
        cast(null as bigint) as source_row_number,
        coalesce(load_files.partner_code, file_counts.partner_code) as partner_code,
        coalesce(load_files.source_file, file_counts.source_file) as source_file
    from load_files
    full outer join file_counts
        on
            load_files.partner_code = file_counts.partner_code
            and load_files.source_file = file_counts.source_file
    where load_files.rows_read is distinct from file_counts.line_count

),

final as (

    select
        partner_code,
        source_file,
        source_row_number,
        accounted_count as accounted_lines,
        cast(null as bigint) as rows_read
    from unmatched_rows

    union all

    select
        partner_code,
        source_file,
        source_row_number,
        accounted_lines,
        rows_read
    from file_mismatches

)

select * from final
