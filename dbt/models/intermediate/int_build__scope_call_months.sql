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
{%- set call_sources = [
    ('telephony', 'int_calls__validated', 'started_at'),
    ('direct_dial', 'int_direct_dial_calls__validated', 'started_at'),
] -%}

with

scope_deliveries as {{ inline_cte() }} (

    select * from {{ ref('stg_build__scope_deliveries') }}

),

previous_months as (

    select * from {{ ref('stg_build__scope_months') }}

),

{{ redone_source_rows(call_sources) }}

call_months as (

    {{ redone_source_months(call_sources) }}

),

final as (

    select
        partner_code,
        month,
        true as has_changed_rows
    from call_months

)

select * from final
