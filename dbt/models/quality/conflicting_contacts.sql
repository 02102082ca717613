{#- Both sides of every enquiry id conflict (docs/architecture.md, "Delivery rules"): the row
    that is kept (the first occurrence) and each later row with the same enquiry id and other
    values, quarantined as duplicate_enquiry_id. Non-personal fields only, as in
    quarantine_contacts. -#}
with

contacts as {{ inline_cte() }} (

    select * from {{ ref('int_contacts__validated') }}

),

{{ conflict_sides('contacts', 'contact_row_id', 'duplicate_enquiry_id') }},

final as (

    select
        partner_code,
        enquiry_id,
        kept_contact_row_id,
        conflict_role,
        contact_row_id,
        record_status,
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
        source_file,
        source_row_number,
        delivery_key,
        period_month,
        loaded_at
    from sides

)

select * from final
