{#- A view over the stored contacts: customer identity reads the keys of the contacts it
    recomputes. One select per key kind (portable; no engine-specific unpivot). -#}
{{ config(materialized='view') }}

{%- set key_kinds = ['email', 'phone', 'name_postcode', 'uprn'] %}

with

contacts as (

    -- the columns used only: the four selects below share this scan
    select
        contact_id,
        {%- for kind in key_kinds %}
        {{ kind }}_key{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'

),

keys as (

    {% for kind in key_kinds -%}
    select
        contact_id,
        {{ kind }}_key as key_value,
        '{{ kind }}' as key_kind
    from contacts
    where {{ kind }}_key is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        contact_id,
        key_value,
        key_kind
    from keys

)

select * from final
