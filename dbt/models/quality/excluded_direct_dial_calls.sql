with

rows_excluded as (

    select * from {{ ref('int_direct_dial_calls__validated') }}
    where record_status = 'excluded'

),

final as (

    select
        direct_dial_row_id,
        partner_code,
        exclusion_reason,
        duplicate_of_row_id,
        period_month,
        source_call_id,
        call_id_text,
        started_at_text,
        service_name,
        started_at,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from rows_excluded

)

select * from final
