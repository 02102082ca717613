{#- The flags that compare a contact with its customer's other contacts, apart from the wide
    rows of fct_contacts (docs/benchmarks-journal.md, "Scale 10": computed in the same query as the
    wide rows, a new month at scale 10 ran out of DuckDB's 3 GiB; stored first, both fit).
    Redone by partner and month as fct_contacts is: the contacts of the months with changed
    rows, recomputed with those of the months either side (duplicate cases look back 60
    minutes, repeat contact 7 days ahead), and every contact of a customer merged or split
    by this build. -#}
{{ config(
    materialized='incremental',
    pre_hook="{{ delete_scoped_contacts('created_month') }}",
) }}
-- depends_on: {{ ref('int_build__scope_months') }}
-- depends_on: {{ ref('int_build__scope_customers') }}

with

all_contacts as (

    select
        contact_id,
        partner_code,
        enquiry_id,
        channel_code,
        service_line_code,
        created_at
    from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'

),

customers as (

    select * from {{ ref('int_customers__resolved') }}

),

contacts as (

    -- the contacts redone and the context their flags need
    select all_contacts.*
    from all_contacts
    where {{ in_contact_window('all_contacts') }}

),

sequenced as (

    select
        contacts.contact_id,
        contacts.partner_code,
        customers.customer_id,
        contacts.service_line_code,
        contacts.created_at,
        cast(date_trunc('month', contacts.created_at) as date) as created_month,
        coalesce(
            customers.customer_id is not null
            and lag(contacts.created_at) over (
                partition by
                    contacts.partner_code,
                    customers.customer_id,
                    contacts.service_line_code,
                    contacts.channel_code
                order by contacts.created_at, contacts.enquiry_id
            ) >= {{ add_interval('contacts.created_at', -60, 'minute') }},
            false
        ) as is_duplicate_case
    from contacts
    left join customers
        on contacts.contact_id = customers.contact_id

),

counted as (

    -- for each contact, the counted contacts (not duplicate cases: only those make an earlier
    -- contact a repeat) of its customer and service line at a strictly later moment within 7
    -- days: those from its moment to 7 days on, less those at its own moment. Windows over
    -- the contacts, where joining them to their customers' moments, then to themselves by
    -- contact_id, held 6.6 GB at scale 10 when a withdrawn month split 820,000 customers
    -- (docs/benchmarks-journal.md, "Scale 10")
    select
        contact_id,
        partner_code,
        customer_id,
        created_month,
        is_duplicate_case,
        count(case when not is_duplicate_case then 1 end) over (
            partition by partner_code, customer_id, service_line_code
            order by created_at
            {{ range_frame_following(7, 'day') }}
        ) as counted_within_7_days,
        count(case when not is_duplicate_case then 1 end) over (
            partition by partner_code, customer_id, service_line_code
            order by created_at
            range between current row and current row
        ) as counted_at_same_moment
    from sequenced

),

final as (

    -- only the contacts this build writes (the window's other months are context)
    select
        contact_id,
        partner_code,
        customer_id,
        created_month,
        is_duplicate_case,
        case
            when customer_id is not null
                then counted_within_7_days > counted_at_same_moment
        end as has_later_contact
    from counted
    where {{ in_scoped_contacts('counted', 'created_month') }}

)

select * from final
