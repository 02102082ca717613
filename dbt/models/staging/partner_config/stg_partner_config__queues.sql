with

queues as (

    select * from {{ source('raw', 'partner_queues') }}

),

final as (

    select
        partner_code,
        queue_name,
        service_line_code
    from queues

)

select * from final
