with

contacts as (

    select * from {{ ref('int_contacts__validated') }}
    where record_status = 'excluded'

),

final as (

    select
        contact_row_id,
        partner_code,
        exclusion_reason,
        duplicate_of_contact_row_id,
        period_month,
        created_at,
        channel_text,
        service_name,
        avoidable_reason_text,
        feedback_type_text,
        feedback_stage_text,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from contacts

)

select * from final
