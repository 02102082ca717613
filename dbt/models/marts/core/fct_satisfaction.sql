with

contacts as (

    select * from {{ ref('fct_contacts') }}
    where satisfaction_score is not null

),

final as (

    select
        contact_id,
        partner_code,
        customer_id,
        channel_code,
        service_line_code,
        created_date,
        created_month,
        satisfaction_score,
        satisfaction_score >= 4 as is_satisfied
    from contacts

)

select * from final
