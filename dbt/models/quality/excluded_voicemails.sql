with

rows_excluded as (

    select * from {{ ref('int_voicemails__validated') }}
    where record_status = 'excluded'

),

final as (

    select
        voicemail_row_id,
        partner_code,
        exclusion_reason,
        duplicate_of_row_id,
        period_month,
        source_voicemail_id,
        voicemail_id_text,
        left_at_text,
        responded_at_text,
        service_name,
        left_at,
        responded_at,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from rows_excluded

)

select * from final
