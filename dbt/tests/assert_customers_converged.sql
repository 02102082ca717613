-- Customer identity is consistent (docs/crm.md): contacts sharing any customer key (email,
-- phone, name + postcode, UPRN) have the same customer_id. A full build checks every key; an
-- incremental build only the keys of contacts labelled by this build (the others were checked
-- when they were labelled). Returns each key with more than one customer_id.
--
-- Every key is compared on 64-bit hashes of its contacts' ids and customers' ids (the join and
-- the aggregate hold numbers, not text: at scale 10 the text of 47 M keys against 28 M contacts
-- ran DuckDB out of its memory limit in a full build, where the hashes take 12.7 s); the keys
-- whose hashes disagree are then counted again on the ids themselves, so a key is reported
-- only for a real disagreement. Two different customers of one key with the same hash would
-- go unseen: one chance in 2^64.
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

hashed_customers as (

    select
        {{ group_key_hash(['contact_id']) }} as contact_hash,
        case
            when customer_id is not null then {{ group_key_hash(['customer_id']) }}
        end as customer_hash
    from customers

),

suspect_keys as (

    select
        customer_keys.key_kind,
        customer_keys.key_value
    from customer_keys
    left join hashed_customers
        on {{ group_key_hash(['customer_keys.contact_id']) }} = hashed_customers.contact_hash
    {% if not every_key -%}
        where customer_keys.key_value in (select checked_keys.key_value from checked_keys)
    {% endif -%}
    group by customer_keys.key_kind, customer_keys.key_value
    having
        min(hashed_customers.customer_hash) != max(hashed_customers.customer_hash)
        or count(*) > count(hashed_customers.customer_hash)

),

suspect_contacts as (

    select
        customer_keys.contact_id,
        customer_keys.key_kind,
        customer_keys.key_value
    from customer_keys
    inner join suspect_keys
        on
            customer_keys.key_kind = suspect_keys.key_kind
            and customer_keys.key_value = suspect_keys.key_value

),

suspect_customers as (

    select
        customers.contact_id,
        customers.customer_id
    from customers
    where customers.contact_id in (select suspect_contacts.contact_id from suspect_contacts)

),

final as (

    select
        suspect_contacts.key_kind,
        suspect_contacts.key_value,
        count(distinct suspect_customers.customer_id) as customer_ids,
        count(*) filter (where suspect_customers.customer_id is null) as contacts_without_customer
    from suspect_contacts
    left join suspect_customers
        on suspect_contacts.contact_id = suspect_customers.contact_id
    group by suspect_contacts.key_kind, suspect_contacts.key_value
    having
        count(distinct suspect_customers.customer_id) != 1
        or count(*) filter (where suspect_customers.customer_id is null) > 0

)

select * from final
