with

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

opening_hours as (

    select * from {{ ref('stg_partner_config__opening_hours') }}

),

open_days as (

    select
        partner_code,
        count(*) as open_days_per_week
    from opening_hours
    group by partner_code

),

final as (

    select
        partners.partner_code,
        partners.partner_name,
        partners.partner_kind,
        partners.is_fictional,
        partners.timezone,
        partners.is_expecting_deliveries,
        coalesce(open_days.open_days_per_week, 0) as open_days_per_week
    from partners
    left join open_days
        on partners.partner_code = open_days.partner_code

)

select * from final
