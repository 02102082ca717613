with

opening_hours as (

    select * from {{ source('raw', 'partner_opening_hours') }}

),

final as (

    select
        partner_code,
        iso_dow,
        cast(opens_at as time) as opening_time,
        cast(closes_at as time) as closing_time
    from opening_hours

)

select * from final
