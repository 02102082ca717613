{#- A view over the stored contacts: customer identity reads the keys of the contacts it
    recomputes. One select per key kind (portable; no engine-specific unpivot), each reading
    the stored table itself: a filter on the view (a test's delivery scope) then reaches each
    scan and its zone maps, which a shared CTE would hide. -#}
{{ config(materialized='view') }}

{%- set key_kinds = ['email', 'phone', 'name_postcode', 'uprn'] %}

with

keys as (

    {% for kind in key_kinds -%}
    select
        contact_id,
        partner_code,
        delivery_key,
        {{ kind }}_key as key_value,
        '{{ kind }}' as key_kind
    from {{ ref('int_contacts__validated') }}
    where record_status = 'valid' and {{ kind }}_key is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        contact_id,
        partner_code,
        delivery_key,
        key_value,
        key_kind
    from keys

)

select * from final
