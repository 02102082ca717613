with

calls as (

    select * from {{ ref('int_calls__validated') }}
    where record_status = 'excluded'

),

final as (

    select
        call_row_id,
        partner_code,
        exclusion_reason,
        source_call_id,
        duplicate_of_call_row_id,
        outcome,
        outcome_code,
        started_at,
        cast(started_at as date) as call_date,
        period_month,
        queue_name,
        wait_seconds,
        talk_seconds,
        hold_seconds,
        wrap_seconds,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from calls

)

select * from final
