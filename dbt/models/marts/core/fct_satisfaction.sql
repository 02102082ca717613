{#- Redone by partner and month (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_contacts('created_month') }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}
-- depends_on: {{ ref('int_build__scope_customers') }}

with

contacts as (

    select * from {{ ref('fct_contacts') }}
    where
        satisfaction_score is not null
        and {{ in_scoped_contacts(ref('fct_contacts'), 'created_month') }}

),

final as (

    select
        contact_id,
        partner_code,
        customer_id,
        channel_code,
        service_line_code,
        created_date,
        created_month,
        satisfaction_score,
        satisfaction_score >= 4 as is_satisfied
    from contacts

)

select * from final
