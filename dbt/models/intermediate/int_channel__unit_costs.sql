with

channels as (

    select * from {{ ref('channels') }}

),

unit_costs as (

    select * from {{ ref('channel_unit_costs') }}

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

financial_years as (

    select distinct financial_year_start
    from dates

),

combinations as (

    select
        partners.partner_code,
        channels.channel_code,
        financial_years.financial_year_start
    from partners
    cross join channels
    cross join financial_years

),

candidates as (

    select
        combinations.partner_code,
        combinations.channel_code,
        combinations.financial_year_start,
        unit_costs.unit_cost_gbp,
        case
            when unit_costs.partner_code is not null and unit_costs.financial_year_start is not null
                then 1
            when unit_costs.partner_code is not null then 2
            when unit_costs.financial_year_start is not null then 3
            else 4
        end as specificity_rank
    from combinations
    inner join unit_costs
        on
            combinations.channel_code = unit_costs.channel_code
            and (
                unit_costs.partner_code is null
                or combinations.partner_code = unit_costs.partner_code
            )
            and (
                unit_costs.financial_year_start is null
                or combinations.financial_year_start = unit_costs.financial_year_start
            )

),

ranked as (

    select
        *,
        row_number() over (
            partition by partner_code, channel_code, financial_year_start
            order by specificity_rank
        ) as row_rank
    from candidates

),

final as (

    select
        partner_code,
        channel_code,
        financial_year_start,
        unit_cost_gbp,
        case specificity_rank
            when 1 then 'partner_year'
            when 2 then 'partner'
            when 3 then 'year'
            else 'default'
        end as cost_source
    from ranked
    where row_rank = 1

)

select * from final
