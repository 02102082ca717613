with

rows_quarantined as (

    select * from {{ ref('int_reception_tickets__validated') }}
    where record_status = 'quarantined'

),

final as (

    select
        ticket_row_id,
        partner_code,
        quarantine_reason,
        duplicate_of_row_id,
        period_month,
        source_ticket_id,
        ticket_id_text,
        issued_at_text,
        called_at_text,
        finished_at_text,
        service_name,
        issued_at,
        called_at,
        finished_at,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from rows_quarantined

)

select * from final
