with

contacts as (

    select * from {{ ref('fct_contacts') }}
    where customer_id is not null

),

final as (

    select
        customer_id,
        min(created_date) as first_contact_date,
        max(created_date) as last_contact_date,
        count(*) as contacts,
        count(distinct partner_code) as partners_contacted,
        count(distinct channel_code) as channels_used,
        count(distinct service_line_code) as services_used,
        count(*) filter (where feedback_type = 'complaint') as complaints,
        count(distinct partner_code) > 1 as is_multi_partner,
        count(distinct channel_code) > 1 as is_multi_channel
    from contacts
    group by customer_id

)

select * from final
