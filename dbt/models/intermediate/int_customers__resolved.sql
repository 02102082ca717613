{#-
    Customer identity, kept up to date incrementally (docs/crm.md, "Customer identity";
    docs/architecture.md, "Incremental builds"). The pre-hook labels the contacts a build must
    write (every valid contact in a full build; in an incremental one the contacts of the
    redone deliveries, every contact of a component that held one of them, and the contacts
    of a stored component whose label changes because it merges with an earlier customer)
    with their connected component; this model writes those rows, the others keep theirs.
    Rows whose label changed carry this build's id in changed_build_id; the post-hook deletes
    contacts that are no longer valid (only a contact of a redone delivery can be: delivery_key
    finds them without comparing every stored contact).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='contact_id',
    pre_hook="{{ label_customer_components() }}",
    post_hook=[
        "{{ delete_invalid_customers() }}",
        "{{ drop_customer_component_tables() }}",
    ],
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}
-- depends_on: {{ ref('int_customers__keys') }}

with

contacts as (

    select * from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'

),

nodes as (

    select * from {{ customer_identity_table('nodes') }}

),

components as (

    select * from {{ customer_identity_table('labels') }}

),

plan as (

    select * from {{ ref('stg_build__plan') }}

),

{% if is_incremental() -%}
previous as (

    select * from {{ this }}

),

{% endif -%}
resolved as (

    select
        contacts.contact_id,
        contacts.partner_code,
        contacts.delivery_key,
        contacts.created_at,
        {{ customer_key_text('components.component_label') }} as customer_key
    from contacts
    inner join nodes
        on contacts.contact_id = nodes.contact_id
    left join components
        on contacts.contact_id = components.node_id

),

final as (

    select
        resolved.contact_id,
        resolved.partner_code,
        resolved.delivery_key,
        resolved.created_at,
        resolved.customer_key,
        case
            when resolved.customer_key is not null
                then 'cus_' || substr(resolved.customer_key, 1, 16)
        end as customer_id,
        {% if is_incremental() -%}
        case
            when
                previous.contact_id is null
                or previous.customer_key is distinct from resolved.customer_key
                then plan.build_id
            else previous.changed_build_id
        end as changed_build_id,
        case
            when previous.customer_key is distinct from resolved.customer_key
                then previous.customer_id
        end as previous_customer_id
        {%- else -%}
        plan.build_id as changed_build_id,
        cast(null as {{ dbt.type_string() }}) as previous_customer_id
        {%- endif %}
    from resolved
    cross join plan
    {% if is_incremental() -%}
    left join previous
        on resolved.contact_id = previous.contact_id
    {%- endif %}

)

select * from final
