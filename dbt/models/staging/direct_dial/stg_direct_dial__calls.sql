with

calls as (

    select * from {{ source('raw', 'direct_dial_calls') }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}
    where source = 'direct_dial'

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

services as (

    select * from {{ ref('stg_partner_config__services') }}
    where source = 'direct_dial'

),

texts as (

    select
        calls.partner_code,
        {{ raw_lineage('calls') }},
        partner_sources.timestamp_format,
        partner_sources.timestamp_zone,
        partners.timezone,
        coalesce(partner_sources.started_at_format, partner_sources.timestamp_format)
            as started_at_format,
        nullif(trim(calls.call_id), '') as call_id_text,
        nullif(trim(calls.started_at), '') as started_at_text,
        nullif(trim(calls.service), '') as service_name
    from calls
    left join partner_sources
        on calls.partner_code = partner_sources.partner_code
    left join partners
        on calls.partner_code = partners.partner_code

),

parsed as (

    select
        texts.*,
        services.service_line_code as mapped_service_line_code,
        {{ local_timestamp('texts.started_at_text', 'texts.started_at_format') }}
            as started_at,
        coalesce(
            {{ has_control_character(
                "concat_ws('|', texts.call_id_text, texts.started_at_text, texts.service_name)"
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
        || ':' || cast(source_row_number as {{ dbt.type_string() }}) as direct_dial_row_id,
        partner_code,
        call_id_text as source_call_id,
        started_at,
        service_name,
        coalesce(nullif(mapped_service_line_code, 'excluded'), 'unmapped') as service_line_code,
        coalesce(mapped_service_line_code = 'excluded', false) as is_service_excluded,
        has_control_character,
        call_id_text,
        started_at_text,
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
