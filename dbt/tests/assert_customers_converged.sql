-- Customer identity converged (docs/crm.md): contacts sharing any customer key (email,
-- phone, name + postcode, UPRN) have the same customer_id. A failure means the connected
-- components need more propagation rounds (dbt var customer_identity_iterations).
-- Returns each key with more than one customer_id.
{{ config(meta={'dagster': {'ref': {'name': 'int_customers__resolved'}}}) }}

with

customer_keys as (

    select * from {{ ref('int_customers__keys') }}

),

customers as (

    select * from {{ ref('int_customers__resolved') }}

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
    group by customer_keys.key_kind, customer_keys.key_value
    having
        count(distinct customers.customer_id) != 1
        or count(*) filter (where customers.customer_id is null) > 0

)

select * from final
