{#- Redone by customer (docs/architecture.md, "Incremental builds"): the customers with a
    contact in a redone delivery, now or before this build, and those merged or split
    (macro scoped_customer_ids); a customer left without contacts leaves the table. Contacts
    redone only for their flags (their month is next to a changed one) change no customer. -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_customers() }}",
) }}
-- depends_on: {{ ref('int_build__scope_customers') }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}
-- depends_on: {{ ref('int_contacts__validated') }}
-- depends_on: {{ ref('int_customers__resolved') }}

with

contacts as (

    -- in an incremental build, joined with the customers in scope (a union: one row each) so
    -- that the join is built on them: `in (...)` built it on every stored contact
    select facts.*
    from {{ ref('fct_contacts') }} as facts
    {% if is_incremental() -%}
    inner join ({{ scoped_customer_ids() }}) as scoped_customers
        on facts.customer_id = scoped_customers.customer_id
    {% endif -%}
    where facts.customer_id is not null

),

final as (

    select
        customer_id,
        min(created_date) as first_contact_date,
        max(created_date) as last_contact_date,
        count(*) as contacts,
        count(distinct partner_code) as partners_contacted,
        count(distinct channel_code) as channels_used,
        count(distinct service_line_code) as services_used,
        count(*) filter (where feedback_type = 'complaint') as complaints,
        count(distinct partner_code) > 1 as is_multi_partner,
        count(distinct channel_code) > 1 as is_multi_channel
    from contacts
    group by customer_id

)

select * from final
