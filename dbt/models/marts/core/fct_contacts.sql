{#- Redone by partner and month (docs/architecture.md, "Incremental builds"): the contacts of
    the months with changed rows and every contact of a customer merged or split by this
    build, as int_contacts__flags redid their duplicate and repeat flags. -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_contacts('created_month') }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}
-- depends_on: {{ ref('int_build__scope_customers') }}
-- depends_on: {{ ref('int_customers__resolved') }}

with

all_contacts as {{ inline_cte() }} (

    select * from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'

),

partner_latest as (

    -- the latest contact of each partner, over every month (read apart from all_contacts:
    -- one reference to it lets the scan below stream instead of materialising every contact)
    select
        partner_code,
        max(created_at) as partner_latest_created_at
    from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'
    group by partner_code

),

contacts as (

    -- the contacts redone (and their neighbours, which the final filter leaves out)
    select all_contacts.*
    from all_contacts
    where {{ in_contact_window('all_contacts') }}

),

unit_costs as (

    select * from {{ ref('int_channel__unit_costs') }}

),

flags as (

    -- duplicate and repeat flags, stored first by int_contacts__flags for the same contacts
    select * from {{ ref('int_contacts__flags') }}
    where {{ in_scoped_contacts('int_contacts__flags', 'created_month') }}

),

identified as (

    select
        contacts.contact_id,
        contacts.partner_code,
        contacts.enquiry_id,
        flags.customer_id,
        contacts.channel_code,
        contacts.service_line_code,
        contacts.enquiry_type,
        contacts.created_at,
        contacts.resolved_at,
        contacts.is_resolved_first_contact,
        contacts.is_handed_to_back_office,
        contacts.avoidable_reason,
        contacts.satisfaction_score,
        contacts.feedback_type,
        contacts.has_phone,
        contacts.is_phone_valid,
        contacts.has_postcode,
        contacts.is_postcode_valid,
        contacts.source_file,
        contacts.source_row_number,
        cast(contacts.created_at as date) as created_date,
        cast(
            case
                when month(contacts.created_at) >= 4 then year(contacts.created_at)
                else year(contacts.created_at) - 1
            end as integer
        ) as financial_year_start,
        partner_latest.partner_latest_created_at,
        flags.is_duplicate_case,
        flags.has_later_contact
    from contacts
    inner join partner_latest
        on contacts.partner_code = partner_latest.partner_code
    -- the flags carry the contact's customer (the same join with int_customers__resolved)
    inner join flags
        on contacts.contact_id = flags.contact_id

),

flagged as (

    select
        identified.*,
        unit_costs.unit_cost_gbp,
        cast(date_trunc('month', identified.created_at) as date) as created_month,
        identified.resolved_at is not null as is_resolved,
        nullif(identified.avoidable_reason, 'none') as avoidable_category,
        coalesce(identified.avoidable_reason != 'none', false) as is_avoidable,
        identified.avoidable_reason is not null as has_avoidable_reason,
        case
            when
                identified.customer_id is not null
                and not identified.is_duplicate_case
                and {{ add_interval('identified.created_at', 7, 'day') }}
                <= identified.partner_latest_created_at
                then identified.has_later_contact
        end as has_repeat_within_7_days
    from identified
    left join unit_costs
        on
            identified.partner_code = unit_costs.partner_code
            and identified.channel_code = unit_costs.channel_code
            and identified.financial_year_start = unit_costs.financial_year_start

),

final as (

    select
        contact_id,
        partner_code,
        enquiry_id,
        customer_id,
        channel_code,
        service_line_code,
        enquiry_type,
        created_at,
        created_date,
        created_month,
        resolved_at,
        is_resolved,
        is_resolved_first_contact,
        is_handed_to_back_office,
        avoidable_category,
        is_avoidable,
        has_avoidable_reason,
        satisfaction_score,
        feedback_type,
        is_duplicate_case,
        has_repeat_within_7_days,
        financial_year_start,
        unit_cost_gbp,
        has_phone,
        is_phone_valid,
        has_postcode,
        is_postcode_valid,
        source_file,
        source_row_number
    from flagged
    where {{ in_scoped_contacts('flagged', 'created_month') }}

)

select * from final
