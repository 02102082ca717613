{#- Redone by partner and month (docs/architecture.md, "Incremental builds"): the contacts of
    the months with changed rows, recomputed with those of the months either side (duplicate
    cases look back 60 minutes, repeat contact 7 days ahead), and every contact of a customer
    merged or split by this build (its flags compare the customer's contacts). -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_contacts('created_month') }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}
-- depends_on: {{ ref('int_build__scope_customers') }}

with

all_contacts as (

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

    -- the contacts redone and the context their flags need
    select all_contacts.*
    from all_contacts
    {% if is_incremental() -%}
    where
        {{ in_scoped_month(
            'all_contacts', 'created_at', shifts=[-1, 0, 1], changed_rows_only=true,
            timestamp=true
        ) }}
        or all_contacts.contact_id in (
            select resolved.contact_id
            from {{ ref('int_customers__resolved') }} as resolved
            inner join {{ ref('int_build__scope_customers') }} as scope_customers
                on resolved.customer_id = scope_customers.customer_id
        )
    {%- endif %}

),

customers as (

    select * from {{ ref('int_customers__resolved') }}

),

unit_costs as (

    select * from {{ ref('int_channel__unit_costs') }}

),

identified as (

    select
        contacts.contact_id,
        contacts.partner_code,
        contacts.enquiry_id,
        customers.customer_id,
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
        partner_latest.partner_latest_created_at
    from contacts
    inner join partner_latest
        on contacts.partner_code = partner_latest.partner_code
    left join customers
        on contacts.contact_id = customers.contact_id

),

sequenced as (

    select
        *,
        coalesce(
            customer_id is not null
            and lag(created_at) over (
                partition by partner_code, customer_id, service_line_code, channel_code
                order by created_at, enquiry_id
            ) >= {{ add_interval('created_at', -60, 'minute') }},
            false
        ) as is_duplicate_case
    from identified

),

repeats as (

    select
        contact.contact_id,
        count(later.contact_id) > 0 as has_later_contact
    from sequenced as contact
    left join sequenced as later
        on
            contact.partner_code = later.partner_code
            and contact.customer_id = later.customer_id
            and contact.service_line_code = later.service_line_code
            and contact.created_at < later.created_at
            and {{ add_interval('contact.created_at', 7, 'day') }} >= later.created_at
            and not later.is_duplicate_case
    where contact.customer_id is not null
    group by contact.contact_id

),

flagged as (

    select
        sequenced.*,
        unit_costs.unit_cost_gbp,
        cast(date_trunc('month', sequenced.created_at) as date) as created_month,
        sequenced.resolved_at is not null as is_resolved,
        nullif(sequenced.avoidable_reason, 'none') as avoidable_category,
        coalesce(sequenced.avoidable_reason != 'none', false) as is_avoidable,
        case
            when
                sequenced.customer_id is not null
                and not sequenced.is_duplicate_case
                and {{ add_interval('sequenced.created_at', 7, 'day') }}
                <= sequenced.partner_latest_created_at
                then repeats.has_later_contact
        end as has_repeat_within_7_days
    from sequenced
    left join repeats
        on sequenced.contact_id = repeats.contact_id
    left join unit_costs
        on
            sequenced.partner_code = unit_costs.partner_code
            and sequenced.channel_code = unit_costs.channel_code
            and sequenced.financial_year_start = unit_costs.financial_year_start

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
