{#- Both sides of every call id conflict (docs/architecture.md, "Delivery rules"): the row that
    is kept (the first occurrence, in fct_calls or excluded_calls) and each later row with the
    same call id and other values, quarantined as duplicate_call_id. -#}
with

calls as {{ inline_cte() }} (

    select * from {{ ref('int_calls__validated') }}

),

{{ conflict_sides('calls', 'call_row_id', 'duplicate_call_id') }},

final as (

    select
        partner_code,
        source_call_id,
        kept_call_row_id,
        conflict_role,
        call_row_id,
        record_status,
        call_id_text,
        started_at_text,
        queue_name,
        outcome_code,
        wait_text,
        talk_text,
        hold_text,
        wrap_text,
        source_file,
        source_row_number,
        delivery_key,
        period_month,
        loaded_at
    from sides

)

select * from final
