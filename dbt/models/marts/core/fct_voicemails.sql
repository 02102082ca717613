{#- Redone by delivery (docs/architecture.md, "Incremental builds"). One row per valid
    voicemail message; docs/kpi-definitions.md, "Service standards". -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('voicemail') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

messages as (

    select * from {{ ref('int_voicemails__validated') }}
    where
        record_status = 'valid'
        and {{ in_scoped_delivery('voicemail', ref('int_voicemails__validated')) }}

),

working_days as (

    select * from {{ ref('int_dates__partner_working_days') }}

),

timed as (

    select
        messages.*,
        cast(messages.left_at as date) as left_date,
        cast(messages.responded_at as date) as responded_date,
        {{ dbt.datediff('messages.left_at', 'messages.responded_at', 'second') }}
            as response_seconds
    from messages

),

final as (

    select
        timed.partner_code || ':' || timed.source_voicemail_id as voicemail_id,
        timed.partner_code,
        timed.source_voicemail_id,
        timed.service_line_code,
        timed.left_at,
        timed.left_date,
        cast(date_trunc('month', timed.left_at) as date) as left_month,
        timed.responded_at,
        timed.responded_at is not null as is_responded,
        timed.response_seconds,
        cast(timed.response_seconds as decimal(18, 6)) / 3600 as response_hours,
        -- due: the partner's first working day after the day the message was left
        left_day.working_day_number + 1 as due_working_day_number,
        coalesce(
            responded_day.working_day_number <= left_day.working_day_number + 1, false
        ) as is_responded_in_policy,
        timed.source_file,
        timed.source_row_number,
        timed.delivery_key,
        timed.load_id
    from timed
    left join working_days as left_day
        on
            timed.partner_code = left_day.partner_code
            and timed.left_date = left_day.date_day
    left join working_days as responded_day
        on
            timed.partner_code = responded_day.partner_code
            and timed.responded_date = responded_day.date_day

)

select * from final
