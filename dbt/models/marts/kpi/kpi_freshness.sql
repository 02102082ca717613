with

deliveries as {{ inline_cte() }} (

    select * from {{ ref('kpi_deliveries') }}

),

partners as (

    select * from {{ ref('dim_partner') }}

),

configured as (

    select * from {{ ref('stg_partner_config__sources') }}

),

sources as (

    -- the sources each partner's YAML configures, and any it once delivered: a source a
    -- partner does not have is no row (never "never delivered")
    select
        partner_code,
        source
    from configured
    union
    select
        partner_code,
        source
    from deliveries

),

latest as (

    select
        partner_code,
        source,
        max(month) filter (where rows_loaded > 0) as latest_month,
        max(last_loaded_at) as last_loaded_at
    from deliveries
    group by partner_code, source

),

partner_sources as (

    select
        partners.partner_code,
        partners.is_expecting_deliveries,
        sources.source,
        latest.latest_month,
        latest.last_loaded_at
    from partners
    inner join sources
        on partners.partner_code = sources.partner_code
    left join latest
        on
            partners.partner_code = latest.partner_code
            and sources.source = latest.source

),

hub_latest as (

    select
        source,
        max(latest_month) as hub_latest_month
    from partner_sources
    where is_expecting_deliveries
    group by source

),

final as (

    select
        partner_sources.partner_code,
        partner_sources.source,
        partner_sources.is_expecting_deliveries,
        partner_sources.latest_month,
        partner_sources.last_loaded_at,
        hub_latest.hub_latest_month,
        case
            when partner_sources.is_expecting_deliveries
                then
                    {{ month_diff(
                        'partner_sources.latest_month', 'hub_latest.hub_latest_month'
                    ) }}
        end as months_behind,
        case
            when not partner_sources.is_expecting_deliveries then 'not expected'
            when partner_sources.latest_month is null then 'never delivered'
            when partner_sources.latest_month < hub_latest.hub_latest_month then 'behind'
            else 'up to date'
        end as freshness_status
    from partner_sources
    left join hub_latest
        on partner_sources.source = hub_latest.source

)

select * from final
