with

scope_customers as (

    select * from {{ source('build', 'scope_customers') }}

),

final as (

    select distinct customer_id
    from scope_customers

)

select * from final
