{#- Redone by delivery (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook=[
        "{{ delete_scoped_deliveries('telephony') }}",
        "{{ create_redone_ids('telephony', ref('stg_telephony__calls'), 'source_call_id') }}",
    ],
    post_hook="{{ drop_redone_ids() }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

calls as {{ inline_cte() }} (

    select * from {{ ref('stg_telephony__calls') }}
    where {{ in_scoped_delivery('telephony', ref('stg_telephony__calls')) }}

),

{% if is_incremental() -%}
kept_calls as (

    -- rows of the deliveries this build does not redo (the pre-hook deleted the others)
    select * from {{ this }}

),

{% endif -%}

outcome_codes as (

    select * from {{ ref('stg_partner_config__outcome_codes') }}
    where source = 'telephony'

),

load_files as (

    select * from {{ ref('stg_loads__files') }}
    where source = 'telephony'

),

mapped as {{ inline_cte() }} (

    select
        calls.*,
        outcome_codes.outcome,
        load_files.period_month as file_period_month
    from calls
    left join outcome_codes
        on
            calls.partner_code = outcome_codes.partner_code
            and calls.outcome_code = outcome_codes.outcome_code
    left join load_files
        on
            calls.partner_code = load_files.partner_code
            and calls.delivery_key = load_files.delivery_key

),

checked as {{ materialized_cte() }} (

    select
        *,
        case
            when
                source_call_id is null
                or started_at_text is null
                or outcome_code is null
                then 'missing_key'
            when has_control_character then 'control_character'
            when started_at is null then 'bad_timestamp'
            when {{ is_timestamp_out_of_range('started_at', 'loaded_at') }}
                then 'timestamp_out_of_range'
            when outcome is null then 'unknown_outcome_code'
            when
                (wait_text is not null and wait_seconds is null)
                or (talk_text is not null and talk_seconds is null)
                or (hold_text is not null and hold_seconds is null)
                or (wrap_text is not null and wrap_seconds is null)
                then 'bad_duration'
            when
                wait_seconds < 0
                or talk_seconds < 0
                or hold_seconds < 0
                or wrap_seconds < 0
                then 'negative_duration'
            when
                wait_seconds > wait_max_seconds
                or talk_seconds > talk_max_seconds
                or hold_seconds > hold_max_seconds
                or wrap_seconds > wrap_max_seconds
                then 'implausible_duration'
        end as row_check_failure,
        {{ row_fingerprint([
            'started_at', 'queue_name', 'outcome_code',
            'wait_seconds', 'talk_seconds', 'hold_seconds', 'wrap_seconds',
        ]) }} as row_fingerprint
    from mapped

),

candidates as (

    select
        partner_code,
        source_call_id,
        call_row_id,
        delivery_key,
        row_fingerprint,
        source_file,
        source_row_number
    from checked
    where row_check_failure is null
    {% if is_incremental() -%}
    union all
    select
        partner_code,
        source_call_id,
        call_row_id,
        delivery_key,
        row_fingerprint,
        source_file,
        source_row_number
    from kept_calls
    where
        row_check_failure is null
        and exists (
            select 1
            from {{ redone_ids_table() }} as redone_ids
            where
                redone_ids.partner_code = kept_calls.partner_code
                and redone_ids.source_call_id = kept_calls.source_call_id
        )
    {%- endif %}

),

first_occurrences as (

    {{ first_occurrences_of_duplicates(
        'candidates', 'source_call_id', 'call_row_id', ['delivery_key', 'row_fingerprint']
    ) }}

),

sequenced as (

    select
        checked.*,
        first_occurrences.first_call_row_id,
        first_occurrences.first_delivery_key,
        first_occurrences.first_row_fingerprint
    from checked
    left join first_occurrences
        on
            checked.partner_code = first_occurrences.partner_code
            and checked.source_call_id = first_occurrences.source_call_id

),

resent as (

    -- a later occurrence of a call id: the same values as the first from another delivery
    -- (a re-sent row, excluded), else a conflict (quarantined)
    select
        *,
        case when call_row_id != first_call_row_id then first_call_row_id end
            as duplicate_of_call_row_id,
        coalesce(
            row_check_failure is null
            and call_row_id != first_call_row_id
            and delivery_key != first_delivery_key
            and row_fingerprint = first_row_fingerprint,
            false
        ) as is_already_delivered
    from sequenced

),

reasoned as (

    select
        *,
        coalesce(
            row_check_failure,
            case
                when call_row_id != first_call_row_id and not is_already_delivered
                    then 'duplicate_call_id'
            end
        ) as quarantine_reason
    from resent

),

statused as (

    select
        *,
        case
            when quarantine_reason is not null then 'quarantined'
            when is_already_delivered or outcome in ('test', 'phantom') then 'excluded'
            else 'valid'
        end as record_status,
        case
            when quarantine_reason is not null then null
            when is_already_delivered then 'already_delivered'
            when outcome = 'test' then 'test_call'
            when outcome = 'phantom' then 'phantom_call'
        end as exclusion_reason,
        coalesce(
            file_period_month,
            case
                when
                    quarantine_reason is null
                    or quarantine_reason not in ('bad_timestamp', 'timestamp_out_of_range')
                    then cast(date_trunc('month', started_at) as date)
            end
        ) as period_month
    from reasoned

),

final as (

    select
        call_row_id,
        partner_code,
        source_call_id,
        started_at,
        queue_name,
        outcome_code,
        outcome,
        wait_seconds,
        talk_seconds,
        hold_seconds,
        wrap_seconds,
        call_id_text,
        started_at_text,
        wait_text,
        talk_text,
        hold_text,
        wrap_text,
        row_check_failure,
        quarantine_reason,
        exclusion_reason,
        record_status,
        duplicate_of_call_row_id,
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
