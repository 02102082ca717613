-- Row accounting (docs/architecture.md): per partner, every raw.telephony_calls row is in
-- exactly one of fct_calls, quality.quarantine_calls or quality.excluded_calls.
-- Returns the partners whose counts disagree.
-- Reported in Dagster as an asset check on fct_calls.
{{ config(meta={'dagster': {'ref': {'name': 'fct_calls'}}}) }}

with

raw_calls as (

    select * from {{ source('raw', 'telephony_calls') }}

),

fct_calls as (

    select * from {{ ref('fct_calls') }}

),

quarantine_calls as (

    select * from {{ ref('quarantine_calls') }}

),

excluded_calls as (

    select * from {{ ref('excluded_calls') }}

),

raw_counts as (

    select
        partner_code,
        count(*) as row_count
    from raw_calls
    group by partner_code

),

accounted as (

    select partner_code from fct_calls
    union all
    select partner_code from quarantine_calls
    union all
    select partner_code from excluded_calls

),

accounted_counts as (

    select
        partner_code,
        count(*) as row_count
    from accounted
    group by partner_code

),

final as (

    select
        raw_counts.row_count as raw_rows,
        accounted_counts.row_count as accounted_rows,
        coalesce(raw_counts.partner_code, accounted_counts.partner_code) as partner_code
    from raw_counts
    full outer join accounted_counts
        on raw_counts.partner_code = accounted_counts.partner_code
    where raw_counts.row_count is distinct from accounted_counts.row_count

)

select * from final
