-- Customer identity is consistent (docs/crm.md): contacts sharing any customer key (email,
-- phone, name + postcode, UPRN) have the same customer_id. In an incremental build only the
-- keys of contacts labelled by this build are checked (the others were checked when they
-- were labelled). Returns each key with more than one customer_id.
{{ config(meta={'dagster': {'ref': {'name': 'int_customers__resolved'}}}) }}

with

customer_keys as {{ inline_cte() }} (

    select * from {{ ref('int_customers__keys') }}

),

customers as {{ inline_cte() }} (

    select * from {{ ref('int_customers__resolved') }}

),

plan as (

    select * from {{ ref('stg_build__plan') }}

),

-- the contacts labelled by this build, filtered before they meet the keys: a join condition
-- naming the plan's mode joined every stored key with every contact first
checked_contacts as (

    select customers.contact_id
    from customers
    cross join plan
    where
        plan.build_mode = 'full'
        or customers.changed_build_id = plan.build_id

),

checked_keys as (

    select customer_keys.key_value
    from customer_keys
    inner join checked_contacts
        on customer_keys.contact_id = checked_contacts.contact_id

),

final as (

    select
        customer_keys.key_kind,
        customer_keys.key_value,
        count(distinct customers.customer_id) as customer_ids,
        count(*) filter (where customers.customer_id is null) as contacts_without_customer
    from customer_keys
    left join customers
        on customer_keys.contact_id = customers.contact_id
    where customer_keys.key_value in (select checked_keys.key_value from checked_keys)
    group by customer_keys.key_kind, customer_keys.key_value
    having
        count(distinct customers.customer_id) != 1
        or count(*) filter (where customers.customer_id is null) > 0

)

select * from final
