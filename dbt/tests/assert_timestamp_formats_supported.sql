-- Every partner timestamp_format must be listed in the dbt var timestamp_formats, or
-- staging cannot parse that partner's timestamps (every row would be quarantined).

with

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}

),

final as (

    select
        partner_code,
        source,
        timestamp_format
    from partner_sources
    where
        timestamp_format not in (
            {{ "'" ~ var('timestamp_formats') | join("', '") ~ "'" }}
        )

)

select * from final
