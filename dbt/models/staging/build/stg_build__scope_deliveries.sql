with

scope_deliveries as (

    select * from {{ source('build', 'scope_deliveries') }}

),

final as (

    select distinct
        partner_code,
        source,
        delivery_key,
        change as delivery_change
    from scope_deliveries

)

select * from final
