with

configured_queues as {{ inline_cte() }} (

    select * from {{ ref('stg_partner_config__queues') }}

),

calls as (

    select * from {{ ref('int_calls__validated') }}
    where record_status = 'valid'

),

service_lines as (

    select * from {{ ref('service_lines') }}

),

queue_names as (

    select
        partner_code,
        queue_name
    from configured_queues

    union

    select
        partner_code,
        queue_name
    from calls

),

mapped as (

    select
        queue_names.partner_code,
        queue_names.queue_name,
        configured_queues.partner_code is not null as is_mapped,
        coalesce(configured_queues.service_line_code, 'unmapped') as service_line_code
    from queue_names
    left join configured_queues
        on
            queue_names.partner_code = configured_queues.partner_code
            and queue_names.queue_name = configured_queues.queue_name

),

final as (

    select
        mapped.partner_code,
        mapped.service_line_code,
        service_lines.service_line_name,
        mapped.is_mapped,
        {{ queue_id('mapped.partner_code', 'mapped.queue_name') }} as queue_id,
        coalesce(mapped.queue_name, '(no queue)') as queue_name
    from mapped
    left join service_lines
        on mapped.service_line_code = service_lines.service_line_code

)

select * from final
