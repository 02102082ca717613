with

days as (

    select * from {{ source('raw', 'web_days') }}

),

partner_sources as (

    select * from {{ ref('stg_partner_config__sources') }}
    where source = 'web'

),

services as (

    select * from {{ ref('stg_partner_config__services') }}
    where source = 'web'

),

texts as (

    select
        days.partner_code,
        {{ raw_lineage('days') }},
        partner_sources.timestamp_format,
        coalesce(partner_sources.visit_date_format, partner_sources.timestamp_format)
            as visit_date_format,
        nullif(trim(days.visit_date), '') as visit_date_text,
        nullif(trim(days.page), '') as page_name,
        nullif(trim(days.service), '') as service_name,
        nullif(trim(days.visits), '') as visits_text,
        nullif(trim(days.ratings_good), '') as ratings_good_text,
        nullif(trim(days.ratings_neutral), '') as ratings_neutral_text,
        nullif(trim(days.ratings_poor), '') as ratings_poor_text
    from days
    left join partner_sources
        on days.partner_code = partner_sources.partner_code

),

parsed as (

    -- a day has no time zone: the date is read as written
    select
        texts.*,
        services.service_line_code as mapped_service_line_code,
        cast({{ parse_timestamp('texts.visit_date_text', 'texts.visit_date_format') }} as date)
            as visit_date,
        {% for column in ['visits', 'ratings_good', 'ratings_neutral', 'ratings_poor'] -%}
        case
            when {{ matches_regex('texts.' ~ column ~ '_text', '^[0-9]{1,12}$') }}
                then cast(texts.{{ column }}_text as bigint)
        end as {{ column }},
        {% endfor -%}
        coalesce(
            {{ has_control_character(
                "concat_ws('|', texts.visit_date_text, texts.page_name, texts.service_name, "
                ~ "texts.visits_text, texts.ratings_good_text, texts.ratings_neutral_text, "
                ~ "texts.ratings_poor_text)"
            ) }},
            false
        ) as has_control_character
    from texts
    left join services
        on
            texts.partner_code = services.partner_code
            and texts.service_name = services.service_name

),

final as (

    select
        partner_code
        || ':' || source_file
        || ':' || cast(source_row_number as {{ dbt.type_string() }}) as page_day_row_id,
        partner_code,
        visit_date_text || '|' || page_name as page_day_key,
        visit_date,
        page_name,
        service_name,
        coalesce(nullif(mapped_service_line_code, 'excluded'), 'unmapped') as service_line_code,
        coalesce(mapped_service_line_code = 'excluded', false) as is_service_excluded,
        visits,
        ratings_good,
        ratings_neutral,
        ratings_poor,
        has_control_character,
        visit_date_text,
        visits_text,
        ratings_good_text,
        ratings_neutral_text,
        ratings_poor_text,
        timestamp_format,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from parsed

)

select * from final
