with

rejected_rows as (

    select * from {{ ref('stg_loads__rejected_rows') }}

),

load_files as (

    select * from {{ ref('stg_loads__files') }}

),

final as (

    select
        rejected_rows.rejected_row_id,
        rejected_rows.partner_code,
        rejected_rows.source,
        rejected_rows.reject_reason,
        rejected_rows.raw_line,
        load_files.period_month,
        rejected_rows.source_file,
        rejected_rows.source_row_number,
        rejected_rows.delivery_key,
        rejected_rows.load_id,
        rejected_rows.loaded_at
    from rejected_rows
    left join load_files
        on
            rejected_rows.partner_code = load_files.partner_code
            and rejected_rows.source = load_files.source
            and rejected_rows.delivery_key = load_files.delivery_key

)

select * from final
