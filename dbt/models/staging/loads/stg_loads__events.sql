with

load_events as (

    select * from {{ source('raw', 'load_events') }}

),

final as (

    select
        load_id,
        event_at,
        partner_code,
        source,
        source_file,
        file_hash,
        delivery_key,
        period_month,
        status as load_status,
        rows_loaded,
        rows_rejected,
        message
    from load_events

)

select * from final
