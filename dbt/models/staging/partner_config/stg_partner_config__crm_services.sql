with

crm_services as (

    select * from {{ source('raw', 'partner_crm_services') }}

),

final as (

    select
        partner_code,
        service_name,
        service_line_code
    from crm_services

)

select * from final
