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

final as (

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

)

select * from final
