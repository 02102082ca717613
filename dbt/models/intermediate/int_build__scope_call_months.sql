{#-
    The partner-months whose calls an incremental build redoes (docs/architecture.md,
    "Incremental builds"): one row per partner x month in which rows of a redone telephony or
    direct-dial delivery fall, now or before this build (their delivery's period month or their
    own month). The telephony models (daily, weekly and monthly KPIs, the partner-days) redo
    these months: calls do not change with the contacts' customers, so a new month that merges
    customers of earlier months leaves those months' call figures alone, and these models need
    not wait for customer identity. int_build__scope_months holds these months too, with every
    other source's. In a full build this model is not read.
-#}

with

scope_deliveries as {{ inline_cte() }} (

    select * from {{ ref('stg_build__scope_deliveries') }}

),

previous_months as (

    select * from {{ ref('stg_build__scope_months') }}

),

{% for source, model, event_at in [
    ('telephony', 'int_calls__validated', 'started_at'),
    ('direct_dial', 'int_direct_dial_calls__validated', 'started_at'),
] -%}
redone_{{ source }} as (

    select
        validated.partner_code,
        validated.period_month,
        -- a time that did not parse, or parsed out of range (1970 from an unset clock), is
        -- no month of its own: the row counts in its file's period month
        case
            when
                validated.quarantine_reason is null
                or validated.quarantine_reason
                not in ('bad_timestamp', 'timestamp_out_of_range')
                then cast(date_trunc('month', validated.{{ event_at }}) as date)
        end as event_month
    from {{ ref(model) }} as validated
    inner join scope_deliveries
        on
            validated.partner_code = scope_deliveries.partner_code
            and validated.delivery_key = scope_deliveries.delivery_key
            and scope_deliveries.source = '{{ source }}'

),

{% endfor -%}
call_months as (

    {% for source in ['telephony', 'direct_dial'] -%}
    select
        partner_code,
        period_month as month
    from redone_{{ source }}
    union
    select
        partner_code,
        event_month as month
    from redone_{{ source }}
    union
    {% endfor -%}
    select
        partner_code,
        month
    from previous_months
    where source in ('telephony', 'direct_dial')

),

final as (

    select
        partner_code,
        month,
        true as has_changed_rows
    from call_months
    where month is not null

)

select * from final
