with

contacts as (

    select * from {{ source('raw', 'crm_contacts') }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}
    where source = 'crm'

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

crm_codes as {{ inline_cte() }} (

    select * from {{ ref('stg_partner_config__crm_codes') }}

),

crm_services as (

    select * from {{ ref('stg_partner_config__crm_services') }}

),

texts as (

    select
        contacts.partner_code,
        contacts._source_file as source_file,
        contacts._row_number as source_row_number,
        contacts._file_hash as file_hash,
        contacts._delivery_key as delivery_key,
        contacts._load_id as load_id,
        contacts._loaded_at as loaded_at,
        contacts.customer_name_key,
        contacts.phone_key,
        contacts.email_key,
        contacts.postcode_key,
        contacts.uprn_key,
        contacts.name_postcode_key,
        contacts.has_customer_name,
        contacts.has_phone,
        contacts.is_phone_valid,
        contacts.has_email,
        contacts.is_email_valid,
        contacts.has_postcode,
        contacts.is_postcode_valid,
        partner_sources.timestamp_format,
        partner_sources.timestamp_zone,
        partners.timezone,
        coalesce(
            partner_sources.created_at_format, partner_sources.timestamp_format
        ) as created_at_format,
        coalesce(
            partner_sources.resolved_at_format, partner_sources.timestamp_format
        ) as resolved_at_format,
        coalesce(
            partner_sources.responded_at_format, partner_sources.timestamp_format
        ) as responded_at_format,
        nullif(trim(contacts.enquiry_id), '') as enquiry_id_text,
        nullif(trim(contacts.created_at), '') as created_at_text,
        nullif(trim(contacts.resolved_at), '') as resolved_at_text,
        nullif(trim(contacts.responded_at), '') as responded_at_text,
        nullif(trim(contacts.channel), '') as channel_text,
        nullif(trim(contacts.service), '') as service_name,
        -- free text: control characters become spaces (docs/architecture.md, "Delivery rules")
        nullif(trim({{ strip_control_characters('contacts.enquiry_type') }}), '') as enquiry_type,
        nullif(trim(contacts.first_contact_resolved), '') as first_contact_resolved_text,
        nullif(trim(contacts.back_office), '') as back_office_text,
        nullif(trim(contacts.avoidable_reason), '') as avoidable_reason_text,
        nullif(trim(contacts.satisfaction), '') as satisfaction_text,
        nullif(trim(contacts.feedback_type), '') as feedback_type_text,
        nullif(trim(contacts.feedback_stage), '') as feedback_stage_text
    from contacts
    left join partner_sources
        on contacts.partner_code = partner_sources.partner_code
    left join partners
        on contacts.partner_code = partners.partner_code

),

mapped as (

    select
        texts.*,
        channel_codes.canonical as channel_canonical,
        avoidable_reason_codes.canonical as avoidable_reason_canonical,
        feedback_type_codes.canonical as feedback_type_canonical,
        feedback_stage_codes.canonical as feedback_stage_canonical,
        first_contact_resolved_codes.canonical as first_contact_resolved_canonical,
        back_office_codes.canonical as back_office_canonical,
        crm_services.service_line_code as mapped_service_line_code
    from texts
    left join crm_codes as channel_codes
        on
            texts.partner_code = channel_codes.partner_code
            and channel_codes.field = 'channel'
            and texts.channel_text = channel_codes.code
    left join crm_codes as avoidable_reason_codes
        on
            texts.partner_code = avoidable_reason_codes.partner_code
            and avoidable_reason_codes.field = 'avoidable_reason'
            and texts.avoidable_reason_text = avoidable_reason_codes.code
    left join crm_codes as feedback_type_codes
        on
            texts.partner_code = feedback_type_codes.partner_code
            and feedback_type_codes.field = 'feedback_type'
            and texts.feedback_type_text = feedback_type_codes.code
    left join crm_codes as feedback_stage_codes
        on
            texts.partner_code = feedback_stage_codes.partner_code
            and feedback_stage_codes.field = 'feedback_stage'
            and texts.feedback_stage_text = feedback_stage_codes.code
    left join crm_codes as first_contact_resolved_codes
        on
            texts.partner_code = first_contact_resolved_codes.partner_code
            and first_contact_resolved_codes.field = 'flag'
            and texts.first_contact_resolved_text = first_contact_resolved_codes.code
    left join crm_codes as back_office_codes
        on
            texts.partner_code = back_office_codes.partner_code
            and back_office_codes.field = 'flag'
            and texts.back_office_text = back_office_codes.code
    left join crm_services
        on
            texts.partner_code = crm_services.partner_code
            and texts.service_name = crm_services.service_name

),

parsed as (

    select
        *,
        {{ parse_timestamp('created_at_text', 'created_at_format') }} as created_at_as_delivered,
        {{ parse_timestamp('resolved_at_text', 'resolved_at_format') }}
            as resolved_at_as_delivered,
        {{ parse_timestamp('responded_at_text', 'responded_at_format') }}
            as responded_at_as_delivered,
        try_cast(satisfaction_text as decimal(18, 6)) as satisfaction_number,
        coalesce(
            {{ has_control_character(
                "concat_ws('|', enquiry_id_text, created_at_text, resolved_at_text, "
                ~ "responded_at_text, channel_text, service_name, first_contact_resolved_text, "
                ~ "back_office_text, avoidable_reason_text, satisfaction_text, "
                ~ "feedback_type_text, feedback_stage_text)"
            ) }},
            false
        ) as has_control_character
    from mapped

),

localised as (

    select
        *,
        partner_code
        || ':' || source_file
        || ':' || cast(source_row_number as {{ dbt.type_string() }}) as contact_row_id,
        case timestamp_zone
            when 'local' then created_at_as_delivered
            when 'utc' then {{ utc_to_local('created_at_as_delivered', 'timezone') }}
        end as created_at,
        case timestamp_zone
            when 'local' then resolved_at_as_delivered
            when 'utc' then {{ utc_to_local('resolved_at_as_delivered', 'timezone') }}
        end as resolved_at,
        case timestamp_zone
            when 'local' then responded_at_as_delivered
            when 'utc' then {{ utc_to_local('responded_at_as_delivered', 'timezone') }}
        end as responded_at,
        coalesce(nullif(mapped_service_line_code, 'excluded'), 'unmapped') as service_line_code,
        coalesce(mapped_service_line_code != 'excluded', false) as is_service_mapped,
        try_cast(first_contact_resolved_canonical as boolean) as is_resolved_first_contact,
        try_cast(back_office_canonical as boolean) as is_handed_to_back_office,
        try_cast(nullif(feedback_stage_canonical, 'excluded') as integer) as feedback_stage,
        nullif(channel_canonical, 'excluded') as channel_code,
        nullif(avoidable_reason_canonical, 'excluded') as avoidable_reason,
        nullif(feedback_type_canonical, 'excluded') as feedback_type,
        -- a value the partner's YAML maps to `excluded`: not a customer contact (raised by
        -- staff or a system); the first such field names the reason
        case
            when channel_canonical = 'excluded' then 'excluded_channel'
            when mapped_service_line_code = 'excluded' then 'excluded_service'
            when avoidable_reason_canonical = 'excluded' then 'excluded_avoidable_reason'
            when feedback_type_canonical = 'excluded' then 'excluded_feedback_type'
            when feedback_stage_canonical = 'excluded' then 'excluded_feedback_stage'
        end as exclusion_reason,
        case
            when
                satisfaction_number between 1 and 5
                and satisfaction_number = floor(satisfaction_number)
                then cast(satisfaction_number as integer)
        end as satisfaction_score
    from parsed

),

final as (

    select
        contact_row_id,
        partner_code,
        enquiry_id_text as enquiry_id,
        created_at,
        resolved_at,
        responded_at,
        channel_code,
        service_name,
        service_line_code,
        is_service_mapped,
        enquiry_type,
        is_resolved_first_contact,
        is_handed_to_back_office,
        avoidable_reason,
        satisfaction_score,
        feedback_type,
        feedback_stage,
        exclusion_reason,
        has_control_character,
        enquiry_id_text,
        created_at_text,
        resolved_at_text,
        responded_at_text,
        channel_text,
        first_contact_resolved_text,
        back_office_text,
        avoidable_reason_text,
        satisfaction_text,
        feedback_type_text,
        feedback_stage_text,
        customer_name_key,
        phone_key,
        email_key,
        postcode_key,
        uprn_key,
        name_postcode_key,
        has_customer_name,
        has_phone,
        is_phone_valid,
        has_email,
        is_email_valid,
        has_postcode,
        is_postcode_valid,
        timestamp_format,
        timestamp_zone,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from localised

)

select * from final
