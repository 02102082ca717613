{#-
    The customers whose contacts an incremental build redoes one by one (docs/architecture.md,
    "Incremental builds"): one row per customer_id. A customer is in scope when one of its
    contacts changed label in this build (a merge or a split of customers; under the new id and
    the previous one) or had a contact in a redone delivery before this build: its contacts'
    duplicate and repeat flags compare contacts of one customer, so they are recomputed
    whatever their month, and so is its dim_customer row.
-#}
with

customers as (

    select * from {{ ref('int_customers__resolved') }}

),

plan as (

    select * from {{ ref('stg_build__plan') }}

),

previous_customers as (

    select * from {{ ref('stg_build__scope_customers') }}

),

relabelled as (

    select
        customers.customer_id,
        customers.previous_customer_id
    from customers
    inner join plan
        on customers.changed_build_id = plan.build_id
    -- contacts that had another customer before this build (not new contacts: a new contact
    -- joining a customer changes the flags of its contacts within 7 days only, which the
    -- months either side of its month cover)
    where customers.previous_customer_id is not null

),

final as (

    select customer_id from relabelled
    where customer_id is not null
    union
    select previous_customer_id from relabelled
    where previous_customer_id is not null
    union
    select customer_id from previous_customers

)

select * from final
