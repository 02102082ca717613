with

partners as (

    select * from {{ source('raw', 'partners') }}

),

final as (

    select
        partner_code,
        partner_name,
        partner_kind,
        partner_family,
        is_fictional,
        timezone,
        expects_deliveries as is_expecting_deliveries
    from partners

)

select * from final
