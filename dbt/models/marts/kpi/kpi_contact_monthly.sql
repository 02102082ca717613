{#- Redone by partner and month (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_months('month') }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}

with

contacts as (

    select * from {{ ref('fct_contacts') }}
    where {{ in_scoped_month(ref('fct_contacts'), 'created_month') }}

),

measures as (

    select
        partner_code,
        created_month as month,
        channel_code,
        service_line_code,
        {{ crm_contact_measures() }}
    from contacts
    group by partner_code, created_month, channel_code, service_line_code

),

final as (

    select
        *,
        {{ crm_contact_kpi_figures() }}
    from measures

)

select * from final
