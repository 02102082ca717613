with

partner_sources as (

    select * from {{ source('raw', 'partner_sources') }}

),

final as (

    select
        partner_code,
        source,
        timestamp_format,
        timestamp_zone,
        wait_format,
        talk_format,
        hold_format,
        wrap_format,
        started_at_format,
        created_at_format,
        resolved_at_format,
        responded_at_format,
        left_at_format,
        issued_at_format,
        called_at_format,
        finished_at_format,
        visit_date_format,
        wait_max_seconds,
        talk_max_seconds,
        hold_max_seconds,
        wrap_max_seconds,
        target_wait_minutes
    from partner_sources

)

select * from final
