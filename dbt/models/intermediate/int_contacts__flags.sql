{#- The flags that compare a contact with its customer's other contacts, apart from the wide
    rows of fct_contacts (docs/benchmarks.md, "Scale 10": computed in the same query as the
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

repeats as (

    -- only for the contacts this build writes (the window's other months are context): the
    -- self-join and its grouping were most of the query's memory at scale 10
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
    where
        contact.customer_id is not null
        and {{ in_scoped_contacts('contact', 'created_month') }}
    group by contact.contact_id

),

final as (

    select
        sequenced.contact_id,
        sequenced.partner_code,
        sequenced.customer_id,
        sequenced.created_month,
        sequenced.is_duplicate_case,
        repeats.has_later_contact
    from sequenced
    left join repeats
        on sequenced.contact_id = repeats.contact_id
    where {{ in_scoped_contacts('sequenced', 'created_month') }}

)

select * from final
