-- Customer identity is consistent (docs/crm.md): contacts sharing any customer key (email,
-- phone, name + postcode, UPRN) have the same customer_id. A full build checks every key; an
-- incremental build only the keys of contacts labelled by this build (the others were checked
-- when they were labelled). Returns each key with more than one customer_id.
{{ config(meta={'dagster': {'ref': {'name': 'int_customers__resolved'}}}) }}
{#- Read when the test runs: in a full build every key is checked, with no filter to build
    (the keys of every contact, semi-joined with themselves, doubled the test's work). -#}
{%- set every_key = tests_every_row() %}
-- depends_on: {{ ref('stg_build__plan') }}

with

customer_keys as {{ inline_cte() }} (

    select * from {{ ref('int_customers__keys') }}

),

customers as {{ inline_cte() }} (

    select * from {{ ref('int_customers__resolved') }}

),

{% if not every_key -%}
plan as (

    select * from {{ ref('stg_build__plan') }}

),

-- the contacts labelled by this build, filtered before they meet the keys
checked_contacts as (

    select customers.contact_id
    from customers
    cross join plan
    where customers.changed_build_id = plan.build_id

),

checked_keys as (

    select customer_keys.key_value
    from customer_keys
    inner join checked_contacts
        on customer_keys.contact_id = checked_contacts.contact_id

),

{% endif -%}

final as (

    select
        customer_keys.key_kind,
        customer_keys.key_value,
        count(distinct customers.customer_id) as customer_ids,
        count(*) filter (where customers.customer_id is null) as contacts_without_customer
    from customer_keys
    left join customers
        on customer_keys.contact_id = customers.contact_id
    {% if not every_key -%}
        where customer_keys.key_value in (select checked_keys.key_value from checked_keys)
    {% endif -%}
    group by customer_keys.key_kind, customer_keys.key_value
    having
        count(distinct customers.customer_id) != 1
        or count(*) filter (where customers.customer_id is null) > 0

)

select * from final
