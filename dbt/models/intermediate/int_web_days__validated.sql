{#- Redone by delivery (docs/architecture.md, "Incremental builds"). A day x page is the
    row's id: the same day and page delivered twice is a repeat. -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_deliveries('web') }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

page_days as (

    select * from {{ ref('stg_web__days') }}
    where {{ in_scoped_delivery('web', ref('stg_web__days')) }}

),

{% if is_incremental() -%}
kept_page_days as (

    -- rows of the deliveries this build does not redo (the pre-hook deleted the others)
    select * from {{ this }}

),

{% endif -%}

load_files as (

    select * from {{ ref('stg_loads__files') }}
    where source = 'web'

),

checked as (

    select
        page_days.*,
        load_files.period_month as file_period_month,
        case
            when
                page_days.visit_date_text is null
                or page_days.page_name is null
                or page_days.visits_text is null
                then 'missing_key'
            when page_days.has_control_character then 'control_character'
            when page_days.visit_date is null then 'bad_timestamp'
            when {{ any_timestamp_out_of_range(
                ['cast(page_days.visit_date as timestamp)'], 'page_days.loaded_at'
            ) }}
                then 'timestamp_out_of_range'
            when
                page_days.visits is null
                or (page_days.ratings_good_text is not null and page_days.ratings_good is null)
                or (
                    page_days.ratings_neutral_text is not null
                    and page_days.ratings_neutral is null
                )
                or (page_days.ratings_poor_text is not null and page_days.ratings_poor is null)
                then 'bad_count'
        end as row_check_failure,
        case when page_days.is_service_excluded then 'excluded_service' end as exclusion_check,
        {{ row_fingerprint([
            'page_days.service_name', 'page_days.visits', 'page_days.ratings_good',
            'page_days.ratings_neutral', 'page_days.ratings_poor',
        ]) }} as row_fingerprint
    from page_days
    left join load_files
        on
            page_days.partner_code = load_files.partner_code
            and page_days.delivery_key = load_files.delivery_key

),

{{ validated_rows(
    'kept_page_days', 'page_day_key', 'page_day_row_id', 'duplicate_page_day', 'visit_date'
) }}

final as (

    select
        page_day_row_id,
        partner_code,
        page_day_key,
        visit_date,
        page_name,
        service_name,
        service_line_code,
        visits,
        ratings_good,
        ratings_neutral,
        ratings_poor,
        visit_date_text,
        visits_text,
        ratings_good_text,
        ratings_neutral_text,
        ratings_poor_text,
        row_check_failure,
        quarantine_reason,
        exclusion_reason,
        record_status,
        duplicate_of_row_id,
        row_fingerprint,
        period_month,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from statused

)

select * from final
