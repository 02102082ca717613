with

calls as (

    select * from {{ ref('int_calls__validated') }}
    where record_status = 'quarantined'

),

final as (

    select
        call_row_id,
        partner_code,
        quarantine_reason,
        duplicate_of_call_row_id,
        period_month,
        call_id_text,
        started_at_text,
        queue_name,
        outcome_code,
        wait_text,
        talk_text,
        hold_text,
        wrap_text,
        started_at,
        outcome,
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
