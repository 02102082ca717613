with

scope_months as (

    select * from {{ source('build', 'scope_months') }}

),

final as (

    select distinct
        partner_code,
        source,
        month
    from scope_months

)

select * from final
