with

services as (

    select * from {{ source('raw', 'partner_services') }}

),

final as (

    select
        partner_code,
        source,
        service_name,
        service_line_code
    from services

)

select * from final
