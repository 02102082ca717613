with

messages as (

    select * from {{ source('raw', 'voicemail_messages') }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}
    where source = 'voicemail'

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

services as (

    select * from {{ ref('stg_partner_config__services') }}
    where source = 'voicemail'

),

texts as (

    select
        messages.partner_code,
        {{ raw_lineage('messages') }},
        partner_sources.timestamp_format,
        partner_sources.timestamp_zone,
        partners.timezone,
        coalesce(partner_sources.left_at_format, partner_sources.timestamp_format)
            as left_at_format,
        coalesce(partner_sources.responded_at_format, partner_sources.timestamp_format)
            as responded_at_format,
        nullif(trim(messages.voicemail_id), '') as voicemail_id_text,
        nullif(trim(messages.left_at), '') as left_at_text,
        nullif(trim(messages.responded_at), '') as responded_at_text,
        nullif(trim(messages.service), '') as service_name
    from messages
    left join partner_sources
        on messages.partner_code = partner_sources.partner_code
    left join partners
        on messages.partner_code = partners.partner_code

),

parsed as (

    select
        texts.*,
        services.service_line_code as mapped_service_line_code,
        {{ local_timestamp('texts.left_at_text', 'texts.left_at_format') }} as left_at,
        {{ local_timestamp('texts.responded_at_text', 'texts.responded_at_format') }}
            as responded_at,
        coalesce(
            {{ has_control_character(
                "concat_ws('|', texts.voicemail_id_text, texts.left_at_text, "
                ~ "texts.responded_at_text, texts.service_name)"
            ) }},
            false
        ) as has_control_character
    from texts
    left join services
        on
            texts.partner_code = services.partner_code
            and texts.service_name = services.service_name

),

final as (

    select
        partner_code
        || ':' || source_file
        || ':' || cast(source_row_number as {{ dbt.type_string() }}) as voicemail_row_id,
        partner_code,
        voicemail_id_text as source_voicemail_id,
        left_at,
        responded_at,
        service_name,
        coalesce(nullif(mapped_service_line_code, 'excluded'), 'unmapped') as service_line_code,
        coalesce(mapped_service_line_code = 'excluded', false) as is_service_excluded,
        has_control_character,
        voicemail_id_text,
        left_at_text,
        responded_at_text,
        timestamp_format,
        timestamp_zone,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from parsed

)

select * from final
