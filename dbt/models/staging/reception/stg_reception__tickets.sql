with

tickets as (

    select * from {{ source('raw', 'reception_tickets') }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}
    where source = 'reception'

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

services as (

    select * from {{ ref('stg_partner_config__services') }}
    where source = 'reception'

),

texts as (

    select
        tickets.partner_code,
        {{ raw_lineage('tickets') }},
        partner_sources.timestamp_format,
        partner_sources.timestamp_zone,
        partner_sources.target_wait_minutes,
        partners.timezone,
        coalesce(partner_sources.issued_at_format, partner_sources.timestamp_format)
            as issued_at_format,
        coalesce(partner_sources.called_at_format, partner_sources.timestamp_format)
            as called_at_format,
        coalesce(partner_sources.finished_at_format, partner_sources.timestamp_format)
            as finished_at_format,
        nullif(trim(tickets.ticket_id), '') as ticket_id_text,
        nullif(trim(tickets.issued_at), '') as issued_at_text,
        nullif(trim(tickets.called_at), '') as called_at_text,
        nullif(trim(tickets.finished_at), '') as finished_at_text,
        nullif(trim(tickets.service), '') as service_name
    from tickets
    left join partner_sources
        on tickets.partner_code = partner_sources.partner_code
    left join partners
        on tickets.partner_code = partners.partner_code

),

parsed as (

    select
        texts.*,
        services.service_line_code as mapped_service_line_code,
        {{ local_timestamp('texts.issued_at_text', 'texts.issued_at_format') }} as issued_at,
        {{ local_timestamp('texts.called_at_text', 'texts.called_at_format') }} as called_at,
        {{ local_timestamp('texts.finished_at_text', 'texts.finished_at_format') }}
            as finished_at,
        coalesce(
            {{ has_control_character(
                "concat_ws('|', texts.ticket_id_text, texts.issued_at_text, "
                ~ "texts.called_at_text, texts.finished_at_text, texts.service_name)"
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
        || ':' || cast(source_row_number as {{ dbt.type_string() }}) as ticket_row_id,
        partner_code,
        ticket_id_text as source_ticket_id,
        issued_at,
        called_at,
        finished_at,
        service_name,
        coalesce(nullif(mapped_service_line_code, 'excluded'), 'unmapped') as service_line_code,
        coalesce(mapped_service_line_code = 'excluded', false) as is_service_excluded,
        coalesce(target_wait_minutes, 15) as target_wait_minutes,
        has_control_character,
        ticket_id_text,
        issued_at_text,
        called_at_text,
        finished_at_text,
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
