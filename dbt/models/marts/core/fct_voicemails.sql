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

working_days as {{ inline_cte() }} (

    select * from {{ ref('int_dates__partner_working_days') }}

),

timed as (

    select
        messages.*,
        messages.partner_code || ':' || messages.source_voicemail_id as voicemail_id,
        cast(messages.left_at as date) as left_date,
        cast(date_trunc('month', messages.left_at) as date) as left_month,
        cast(messages.responded_at as date) as responded_date,
        messages.responded_at is not null as is_responded,
        {{ seconds_between('messages.left_at', 'messages.responded_at') }} as response_seconds
    from messages

),

in_policy as (

    select
        timed.*,
        cast(timed.response_seconds as decimal(18, 6)) / 3600 as response_hours,
        -- due: the partner's first working day after the day the message was left
        left_day.working_day_number + 1 as due_working_day_number,
        coalesce(
            responded_day.working_day_number <= left_day.working_day_number + 1, false
        ) as is_responded_in_policy
    from timed
    left join working_days as left_day
        on
            timed.partner_code = left_day.partner_code
            and timed.left_date = left_day.date_day
    left join working_days as responded_day
        on
            timed.partner_code = responded_day.partner_code
            and timed.responded_date = responded_day.date_day

),

final as (

    select
        voicemail_id,
        partner_code,
        source_voicemail_id,
        service_line_code,
        left_at,
        left_date,
        left_month,
        responded_at,
        is_responded,
        response_seconds,
        response_hours,
        due_working_day_number,
        is_responded_in_policy,
        source_file,
        source_row_number,
        delivery_key,
        load_id
    from in_policy

)

select * from final
