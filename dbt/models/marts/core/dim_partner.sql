with

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

opening_hours as (

    select * from {{ ref('stg_partner_config__opening_hours') }}

),

outcome_codes as (

    select * from {{ ref('stg_partner_config__outcome_codes') }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}

),

open_days as (

    select
        partner_code,
        count(*) as open_days_per_week
    from opening_hours
    group by partner_code

),

direct_dial_partners as (

    -- partners whose telephony can say a call went to a direct line (csc_call_share_pct)
    select distinct partner_code
    from outcome_codes
    where source = 'telephony' and outcome = 'direct_dial'

),

direct_dial_extracts as (

    -- partners delivering a separate direct-dial extract (sources.direct_dial)
    select distinct partner_code
    from partner_sources
    where source = 'direct_dial'

),

final as (

    select
        partners.partner_code,
        partners.partner_name,
        partners.partner_kind,
        partners.partner_family,
        partners.is_fictional,
        partners.timezone,
        partners.is_expecting_deliveries,
        coalesce(open_days.open_days_per_week, 0) as open_days_per_week,
        direct_dial_partners.partner_code is not null as has_direct_dial_outcome_code,
        direct_dial_extracts.partner_code is not null as has_direct_dial_extract,
        direct_dial_partners.partner_code is not null
        or direct_dial_extracts.partner_code is not null as is_measuring_direct_dial
    from partners
    left join open_days
        on partners.partner_code = open_days.partner_code
    left join direct_dial_partners
        on partners.partner_code = direct_dial_partners.partner_code
    left join direct_dial_extracts
        on partners.partner_code = direct_dial_extracts.partner_code

)

select * from final
