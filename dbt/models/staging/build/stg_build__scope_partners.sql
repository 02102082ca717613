with

scope_partners as (

    select * from {{ source('build', 'scope_partners') }}

),

final as (

    select
        partner_code,
        source,
        previous_latest_at
    from scope_partners

)

select * from final
