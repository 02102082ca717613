{#- Both sides of every call id conflict (docs/architecture.md, "Delivery rules"): the row that
    is kept (the first occurrence, in fct_calls or excluded_calls) and each later row with the
    same call id and other values, quarantined as duplicate_call_id. -#}
with

calls as (

    select * from {{ ref('int_calls__validated') }}

),

conflicts as (

    select * from calls
    where quarantine_reason = 'duplicate_call_id'

),

kept_ids as (

    select distinct duplicate_of_call_row_id
    from conflicts

),

kept as (

    select calls.*
    from calls
    inner join kept_ids
        on calls.call_row_id = kept_ids.duplicate_of_call_row_id

),

sides as (

    select
        *,
        call_row_id as kept_call_row_id,
        'kept' as conflict_role
    from kept

    union all

    select
        *,
        duplicate_of_call_row_id as kept_call_row_id,
        'quarantined' as conflict_role
    from conflicts

),

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
