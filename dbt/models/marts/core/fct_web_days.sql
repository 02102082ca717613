{#- Redone by delivery (docs/architecture.md, "Incremental builds"). One row per valid day x
    page; the page is pseudonymised (a page's path or title may carry what a resident typed
    into a URL); docs/kpi-definitions.md, "Service standards". -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('web') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

page_days as (

    select * from {{ ref('int_web_days__validated') }}
    where
        record_status = 'valid'
        and {{ in_scoped_delivery('web', ref('int_web_days__validated')) }}

),

final as (

    select
        {{ dbt.hash("partner_code || ':' || page_day_key") }} as page_day_id,
        partner_code,
        {{ dbt.hash("partner_code || ':' || page_name") }} as page_id,
        service_line_code,
        visit_date,
        cast(date_trunc('month', visit_date) as date) as visit_month,
        visits,
        ratings_good,
        ratings_neutral,
        ratings_poor,
        coalesce(ratings_good, ratings_neutral, ratings_poor) is not null as has_ratings,
        coalesce(ratings_good, 0) + coalesce(ratings_neutral, 0) + coalesce(ratings_poor, 0)
            as ratings,
        source_file,
        source_row_number,
        delivery_key,
        load_id
    from page_days

)

select * from final
