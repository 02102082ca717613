with

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

kpi_definitions as (

    select * from {{ ref('kpi_definitions') }}

),

overrides as (

    select * from {{ ref('kpi_target_overrides') }}

),

final as (

    select
        partners.partner_code,
        kpi_definitions.kpi_code,
        kpi_definitions.kpi_name,
        kpi_definitions.unit,
        kpi_definitions.direction,
        kpi_definitions.threshold_seconds,
        kpi_definitions.min_denominator,
        coalesce(overrides.target, kpi_definitions.target) as target,
        coalesce(overrides.amber_tolerance, kpi_definitions.amber_tolerance)
            as amber_tolerance,
        overrides.partner_code is not null as has_target_override
    from partners
    cross join kpi_definitions
    left join overrides
        on
            partners.partner_code = overrides.partner_code
            and kpi_definitions.kpi_code = overrides.kpi_code

)

select * from final
