with

calls as (

    select * from {{ ref('int_calls__validated') }}

),

contacts as (

    select * from {{ ref('int_contacts__validated') }}

),

rejected_rows as (

    select * from {{ ref('int_loads__rejected_rows') }}

),

file_lines as (

    select
        partner_code,
        'telephony' as source,
        period_month,
        source_file,
        loaded_at,
        record_status as line_status
    from calls

    union all

    select
        partner_code,
        'crm' as source,
        period_month,
        source_file,
        loaded_at,
        record_status as line_status
    from contacts

    union all

    select
        partner_code,
        source,
        period_month,
        source_file,
        loaded_at,
        'rejected' as line_status
    from rejected_rows

),

monthly as (

    select
        partner_code,
        source,
        period_month as month,
        count(distinct source_file) as files,
        count(*) as rows_read,
        count(*) filter (where line_status != 'rejected') as rows_loaded,
        count(*) filter (where line_status = 'rejected') as rows_rejected,
        count(*) filter (where line_status = 'quarantined') as rows_quarantined,
        count(*) filter (where line_status = 'excluded') as rows_excluded,
        count(*) filter (where line_status = 'valid') as rows_valid,
        max(loaded_at) as last_loaded_at
    from file_lines
    group by partner_code, source, period_month

),

file_months as (

    -- per file: how many of its lines fall in a known month
    select
        partner_code,
        source,
        source_file,
        count(period_month) as dated_lines
    from file_lines
    group by partner_code, source, source_file

),

undated_files as (

    select
        partner_code,
        source,
        count(*) as files_without_month
    from file_months
    where dated_lines = 0
    group by partner_code, source

),

compared as (

    select
        monthly.*,
        case
            when monthly.month is null then coalesce(undated_files.files_without_month, 0)
            else 0
        end as files_without_month,
        cast(monthly.rows_valid as double) / monthly.files as rows_valid_per_file,
        -- the previous month with rows of the same partner and source (the null month apart)
        lag(monthly.month) over (
            partition by monthly.partner_code, monthly.source, monthly.month is null
            order by monthly.month
        ) as previous_month,
        lag(cast(monthly.rows_valid as double) / monthly.files) over (
            partition by monthly.partner_code, monthly.source, monthly.month is null
            order by monthly.month
        ) as previous_rows_valid_per_file
    from monthly
    left join undated_files
        on
            monthly.partner_code = undated_files.partner_code
            and monthly.source = undated_files.source

),

final as (

    select
        partner_code,
        source,
        month,
        files,
        rows_read,
        rows_loaded,
        rows_rejected,
        rows_quarantined,
        rows_excluded,
        rows_valid,
        last_loaded_at,
        rows_valid_per_file,
        previous_month,
        previous_rows_valid_per_file,
        files_without_month,
        case
            when month is null then files_without_month > 0
            else coalesce(
                rows_valid_per_file
                < {{ var('vanishing_month_ratio') }} * previous_rows_valid_per_file,
                false
            )
        end as is_vanishing
    from compared

)

select * from final
