with

service_lines as (

    select * from {{ ref('service_lines') }}

),

final as (

    select
        service_line_code,
        service_line_name
    from service_lines

)

select * from final
