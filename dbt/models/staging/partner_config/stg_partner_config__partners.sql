with

partners as (

    select * from {{ source('raw', 'partners') }}

),

final as (

    select
        partner_code,
        partner_name,
        partner_kind,
        is_fictional,
        timezone
    from partners

)

select * from final
