{#- Redone by delivery (docs/architecture.md, "Incremental builds"). -#}
{{ config(
    materialized='incremental',
    pre_hook=[
        "{{ delete_scoped_deliveries('crm') }}",
        "{{ create_redone_ids('crm', ref('stg_crm__contacts'), 'enquiry_id') }}",
    ],
    post_hook="{{ drop_redone_ids() }}",
) }}
-- depends_on: {{ ref('stg_build__scope_deliveries') }}

with

contacts as {{ inline_cte() }} (

    select * from {{ ref('stg_crm__contacts') }}
    where {{ in_scoped_delivery('crm', ref('stg_crm__contacts')) }}

),

{% if is_incremental() -%}
kept_contacts as (

    -- rows of the deliveries this build does not redo (the pre-hook deleted the others)
    select * from {{ this }}

),

{% endif -%}

load_files as (

    select * from {{ ref('stg_loads__files') }}
    where source = 'crm'

),

filed as {{ inline_cte() }} (

    select
        contacts.*,
        load_files.period_month as file_period_month
    from contacts
    left join load_files
        on
            contacts.partner_code = load_files.partner_code
            and contacts.delivery_key = load_files.delivery_key

),

checked as {{ materialized_cte() }} (

    select
        *,
        case
            when enquiry_id is null or created_at_text is null then 'missing_key'
            when has_control_character then 'control_character'
            when
                created_at is null
                or (resolved_at_text is not null and resolved_at is null)
                or (responded_at_text is not null and responded_at is null)
                then 'bad_timestamp'
            when
                {{ is_timestamp_out_of_range('created_at', 'loaded_at') }}
                or {{ is_timestamp_out_of_range('resolved_at', 'loaded_at') }}
                or {{ is_timestamp_out_of_range('responded_at', 'loaded_at') }}
                then 'timestamp_out_of_range'
            when
                exclusion_reason is null
                and (
                    channel_code is null
                    or (avoidable_reason_text is not null and avoidable_reason is null)
                    or (feedback_type_text is not null and feedback_type is null)
                    or (feedback_stage_text is not null and feedback_stage is null)
                    or (
                        first_contact_resolved_text is not null
                        and is_resolved_first_contact is null
                    )
                    or (back_office_text is not null and is_handed_to_back_office is null)
                )
                then 'unknown_code'
            when satisfaction_text is not null and satisfaction_score is null
                then 'bad_satisfaction'
            when resolved_at < created_at then 'resolved_before_created'
        end as row_check_failure,
        {{ row_fingerprint([
            'created_at', 'resolved_at', 'responded_at', 'channel_text', 'service_name',
            'enquiry_type', 'first_contact_resolved_text', 'back_office_text',
            'avoidable_reason_text', 'satisfaction_text', 'feedback_type_text',
            'feedback_stage_text', 'customer_name_key', 'phone_key', 'email_key',
            'postcode_key', 'uprn_key',
        ]) }} as row_fingerprint
    from filed

),

candidates as (

    select
        partner_code,
        enquiry_id,
        contact_row_id,
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
        enquiry_id,
        contact_row_id,
        delivery_key,
        row_fingerprint,
        source_file,
        source_row_number
    from kept_contacts
    where
        row_check_failure is null
        and exists (
            select 1
            from {{ redone_ids_table() }} as redone_ids
            where
                redone_ids.partner_code = kept_contacts.partner_code
                and redone_ids.enquiry_id = kept_contacts.enquiry_id
        )
    {%- endif %}

),

first_occurrences as (

    {{ first_occurrences_of_duplicates(
        'candidates', 'enquiry_id', 'contact_row_id', ['delivery_key', 'row_fingerprint']
    ) }}

),

sequenced as (

    select
        checked.*,
        first_occurrences.first_contact_row_id,
        first_occurrences.first_delivery_key,
        first_occurrences.first_row_fingerprint
    from checked
    left join first_occurrences
        on
            checked.partner_code = first_occurrences.partner_code
            and checked.enquiry_id = first_occurrences.enquiry_id

),

resent as (

    -- a later occurrence of an enquiry id: the same values as the first from another
    -- delivery (a re-sent row, excluded), else a conflict (quarantined)
    select
        *,
        case when contact_row_id != first_contact_row_id then first_contact_row_id end
            as duplicate_of_contact_row_id,
        coalesce(
            row_check_failure is null
            and contact_row_id != first_contact_row_id
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
                when contact_row_id != first_contact_row_id and not is_already_delivered
                    then 'duplicate_enquiry_id'
            end
        ) as quarantine_reason,
        case
            when is_already_delivered then 'already_delivered' else exclusion_reason
        end as row_exclusion_reason
    from resent

),

statused as (

    select
        *,
        partner_code || ':' || enquiry_id as contact_id,
        case
            when quarantine_reason is not null then 'quarantined'
            when row_exclusion_reason is not null then 'excluded'
            else 'valid'
        end as record_status,
        coalesce(
            file_period_month,
            case
                when
                    quarantine_reason is null
                    or quarantine_reason not in ('bad_timestamp', 'timestamp_out_of_range')
                    then cast(date_trunc('month', created_at) as date)
            end
        ) as period_month
    from reasoned

),

final as (

    select
        contact_row_id,
        partner_code,
        enquiry_id,
        contact_id,
        created_at,
        resolved_at,
        responded_at,
        channel_code,
        service_name,
        service_line_code,
        is_service_mapped,
        enquiry_type,
        is_resolved_first_contact,
        is_handed_to_back_office,
        avoidable_reason,
        satisfaction_score,
        feedback_type,
        feedback_stage,
        customer_name_key,
        phone_key,
        email_key,
        postcode_key,
        uprn_key,
        name_postcode_key,
        has_customer_name,
        has_phone,
        is_phone_valid,
        has_email,
        is_email_valid,
        has_postcode,
        is_postcode_valid,
        enquiry_id_text,
        created_at_text,
        resolved_at_text,
        responded_at_text,
        channel_text,
        first_contact_resolved_text,
        back_office_text,
        avoidable_reason_text,
        satisfaction_text,
        feedback_type_text,
        feedback_stage_text,
        row_check_failure,
        quarantine_reason,
        row_exclusion_reason as exclusion_reason,
        record_status,
        duplicate_of_contact_row_id,
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
