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

moments as (

    -- one row per customer, service line and moment, and whether a contact then is not a
    -- duplicate case (only those make an earlier contact a repeat)
    select
        partner_code,
        customer_id,
        service_line_code,
        created_at,
        max(case when not is_duplicate_case then 1 else 0 end) = 1 as has_counted_contact
    from sequenced
    where customer_id is not null
    group by partner_code, customer_id, service_line_code, created_at

),

next_moments as (

    -- the first later moment with a counted contact: a window over the customer's moments,
    -- where a self-join of the contacts held most of the query's memory at scale 10
    select
        partner_code,
        customer_id,
        service_line_code,
        created_at,
        min(case when has_counted_contact then created_at end) over (
            partition by partner_code, customer_id, service_line_code
            order by created_at
            rows between 1 following and unbounded following
        ) as next_counted_at
    from moments

),

repeats as (

    -- only for the contacts this build writes (the window's other months are context)
    select
        sequenced.contact_id,
        coalesce(
            next_moments.next_counted_at
            <= {{ add_interval('sequenced.created_at', 7, 'day') }},
            false
        ) as has_later_contact
    from sequenced
    inner join next_moments
        on
            sequenced.partner_code = next_moments.partner_code
            and sequenced.customer_id = next_moments.customer_id
            and sequenced.service_line_code = next_moments.service_line_code
            and sequenced.created_at = next_moments.created_at
    where {{ in_scoped_contacts('sequenced', 'created_month') }}

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
