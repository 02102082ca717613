with

contacts as (

    select * from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'

),

customer_keys as (

    select * from {{ ref('int_customers__keys') }}

),

edges as (

    select
        contact_id as node_id,
        key_value
    from customer_keys

),

components as (

    {{ connected_components('edges', var('customer_identity_iterations')) }}

),

final as (

    select
        contacts.contact_id,
        contacts.partner_code,
        components.component_label as customer_key,
        case
            when components.component_label is not null
                then 'cus_' || left(components.component_label, 16)
        end as customer_id
    from contacts
    left join components
        on contacts.contact_id = components.node_id

)

select * from final
