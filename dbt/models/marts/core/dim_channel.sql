with

channels as (

    select * from {{ ref('channels') }}

),

unit_costs as (

    select * from {{ ref('channel_unit_costs') }}
    where partner_code is null and financial_year_start is null

),

final as (

    select
        channels.channel_code,
        channels.channel_name,
        channels.is_self_service,
        channels.sort_order,
        unit_costs.unit_cost_gbp as default_unit_cost_gbp
    from channels
    left join unit_costs
        on channels.channel_code = unit_costs.channel_code

)

select * from final
