with

rows_excluded as (

    select * from {{ ref('int_web_days__validated') }}
    where record_status = 'excluded'

),

final as (

    select
        page_day_row_id,
        partner_code,
        exclusion_reason,
        duplicate_of_row_id,
        period_month,
        page_day_key,
        visit_date_text,
        page_name,
        service_name,
        visits_text,
        ratings_good_text,
        ratings_neutral_text,
        ratings_poor_text,
        visit_date,
        visits,
        source_file,
        source_row_number,
        file_hash,
        delivery_key,
        load_id,
        loaded_at
    from rows_excluded

)

select * from final
