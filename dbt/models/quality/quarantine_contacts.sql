with

contacts as (

    select * from {{ ref('int_contacts__validated') }}
    where record_status = 'quarantined'

),

final as (

    select
        contact_row_id,
        partner_code,
        quarantine_reason,
        duplicate_of_contact_row_id,
        period_month,
        enquiry_id_text,
        created_at_text,
        resolved_at_text,
        responded_at_text,
        channel_text,
        service_name,
        first_contact_resolved_text,
        back_office_text,
        avoidable_reason_text,
        satisfaction_text,
        feedback_type_text,
        feedback_stage_text,
        created_at,
        resolved_at,
        responded_at,
        channel_code,
        service_line_code,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from contacts

)

select * from final
