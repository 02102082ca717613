with

calls as (

    select * from {{ source('raw', 'telephony_calls') }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}
    where source = 'telephony'

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

texts as (

    select
        calls.partner_code,
        calls._source_file as source_file,
        calls._row_number as source_row_number,
        calls._file_hash as file_hash,
        calls._delivery_key as delivery_key,
        calls._load_id as load_id,
        calls._loaded_at as loaded_at,
        partner_sources.timestamp_zone,
        partner_sources.wait_format,
        partner_sources.talk_format,
        partner_sources.hold_format,
        partner_sources.wrap_format,
        partner_sources.wait_max_seconds,
        partner_sources.talk_max_seconds,
        partner_sources.hold_max_seconds,
        partner_sources.wrap_max_seconds,
        partners.timezone,
        coalesce(
            partner_sources.started_at_format, partner_sources.timestamp_format
        ) as timestamp_format,
        nullif(trim(calls.call_id), '') as call_id_text,
        nullif(trim(calls.started_at), '') as started_at_text,
        nullif(trim(calls.queue), '') as queue_name,
        nullif(trim(calls.outcome), '') as outcome_code,
        nullif(trim(calls.wait), '') as wait_text,
        nullif(trim(calls.talk), '') as talk_text,
        nullif(trim(calls.hold), '') as hold_text,
        nullif(trim(calls.wrap), '') as wrap_text
    from calls
    left join partner_sources
        on calls.partner_code = partner_sources.partner_code
    left join partners
        on calls.partner_code = partners.partner_code

),

parsed as (

    select
        *,
        {{ parse_timestamp('started_at_text', 'timestamp_format') }} as started_at_as_delivered,
        {{ parse_duration('wait_text', 'wait_format') }} as wait_seconds,
        {{ parse_duration('talk_text', 'talk_format') }} as talk_seconds,
        {{ parse_duration('hold_text', 'hold_format') }} as hold_seconds,
        {{ parse_duration('wrap_text', 'wrap_format') }} as wrap_seconds,
        coalesce(
            {{ has_control_character(
                "concat_ws('|', call_id_text, started_at_text, queue_name, outcome_code, "
                ~ "wait_text, talk_text, hold_text, wrap_text)"
            ) }},
            false
        ) as has_control_character
    from texts

),

localised as (

    select
        *,
        partner_code
        || ':' || source_file
        || ':' || cast(source_row_number as {{ dbt.type_string() }}) as call_row_id,
        case timestamp_zone
            when 'local' then started_at_as_delivered
            when 'utc' then {{ utc_to_local('started_at_as_delivered', 'timezone') }}
        end as started_at
    from parsed

),

final as (

    select
        call_row_id,
        partner_code,
        call_id_text as source_call_id,
        started_at,
        queue_name,
        outcome_code,
        wait_seconds,
        talk_seconds,
        hold_seconds,
        wrap_seconds,
        wait_max_seconds,
        talk_max_seconds,
        hold_max_seconds,
        wrap_max_seconds,
        has_control_character,
        call_id_text,
        started_at_text,
        wait_text,
        talk_text,
        hold_text,
        wrap_text,
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
