with

contacts as (

    select * from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'

),

keys as (

    unpivot (
        select
            contact_id,
            email_key,
            phone_key,
            name_postcode_key,
            uprn_key
        from contacts
    )
    on email_key, phone_key, name_postcode_key, uprn_key
    into name key_kind value key_value

),

final as (

    select
        contact_id,
        key_value,
        replace(key_kind, '_key', '') as key_kind
    from keys
    where key_value is not null

)

select * from final
