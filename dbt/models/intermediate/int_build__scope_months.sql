{#-
    The partner-months an incremental build recomputes (docs/architecture.md, "Incremental
    builds"): one row per partner x month. Every aggregate model (daily and monthly KPIs, the
    scorecard) deletes and recomputes these months (kpi_service_standards_monthly, which never
    reads a customer's flags, only those with has_changed_rows); fct_contacts and
    fct_satisfaction redo the contacts of the months with has_changed_rows and, in other
    months, only the contacts of the customers in int_build__scope_customers.
    A month is in scope when
    - rows of a redone delivery fall in it, now or before this build (their delivery's period
      month or their own month);
    - it is next to a CRM month in scope (duplicate cases look back 60 minutes and repeat
      contact 7 days ahead, across a month boundary);
    - a contact whose customer label changed falls in it, or a complaint of a customer with a
      contact in a redone delivery or a changed label (repeat complainants look back 365 days);
    - the partner's latest contact moved and the month is near it (repeat contact needs 7 days
      after a contact, complaint policy its due date, both measured up to the latest contact).
    The months of redone calls and direct-dial rows come from int_build__scope_call_months
    (which the telephony models read alone); the service-standard sources (voicemail,
    reception, web) bring the months of their redone rows, now or before, the same way.
    Telephony months also bring their next month (month-on-month change) and the scorecard the
    month a year later (channel shift); those models add them. In a full build this model is
    not read.
-#}
{%- set service_standard_sources = [
    ('voicemail', 'int_voicemails__validated', 'left_at'),
    ('reception', 'int_reception_tickets__validated', 'issued_at'),
    ('web', 'int_web_days__validated', 'visit_date'),
] -%}

with

scope_deliveries as {{ inline_cte() }} (

    select * from {{ ref('stg_build__scope_deliveries') }}

),

previous_months as {{ inline_cte() }} (

    select * from {{ ref('stg_build__scope_months') }}

),

previous_latest as (

    select * from {{ ref('stg_build__scope_partners') }}

),

scope_customers as (

    select * from {{ ref('int_build__scope_customers') }}

),

call_months as (

    select * from {{ ref('int_build__scope_call_months') }}

),

contacts as {{ inline_cte() }} (

    select * from {{ ref('int_contacts__validated') }}

),

customers as {{ inline_cte() }} (

    select * from {{ ref('int_customers__resolved') }}

),

complaint_policy as (

    select * from {{ ref('stg_partner_config__complaint_policy') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

redone_contacts as (

    select
        contacts.contact_id,
        contacts.partner_code,
        contacts.period_month,
        case
            when
                contacts.quarantine_reason is null
                or contacts.quarantine_reason not in ('bad_timestamp', 'timestamp_out_of_range')
                then contacts.created_at
        end as created_at
    from contacts
    inner join scope_deliveries
        on
            contacts.partner_code = scope_deliveries.partner_code
            and contacts.delivery_key = scope_deliveries.delivery_key
            and scope_deliveries.source = 'crm'

),

{{ redone_source_rows(service_standard_sources) }}

service_standard_months as (

    {{ redone_source_months(service_standard_sources) }}

),

valid_complaints as (

    select
        contacts.contact_id,
        contacts.partner_code,
        customers.customer_id,
        cast(contacts.created_at as date) as received_date
    from contacts
    inner join customers
        on contacts.contact_id = customers.contact_id
    where
        contacts.record_status = 'valid'
        and contacts.feedback_type = 'complaint'
        and customers.customer_id is not null

),

customer_months as (

    -- every contact of a customer merged, split or changed by this build
    select
        contacts.partner_code,
        cast(date_trunc('month', contacts.created_at) as date) as month
    from contacts
    inner join customers
        on contacts.contact_id = customers.contact_id
    inner join scope_customers
        on customers.customer_id = scope_customers.customer_id
    where contacts.record_status = 'valid'
    union
    -- complaints within a year after a redone complaint (repeat complainants)
    select
        later.partner_code,
        cast(date_trunc('month', later.received_date) as date) as month
    from valid_complaints as later
    inner join valid_complaints as redone
        on
            later.customer_id = redone.customer_id
            and later.received_date > redone.received_date
            and later.received_date <= {{ add_interval('redone.received_date', 365, 'day') }}
    inner join redone_contacts
        on redone.contact_id = redone_contacts.contact_id

),

crm_months as (

    select
        partner_code,
        period_month as month
    from redone_contacts
    union
    select
        partner_code,
        cast(date_trunc('month', created_at) as date) as month
    from redone_contacts
    union
    select
        partner_code,
        month
    from previous_months
    where source = 'crm'

),

crm_neighbours as (

    {% for shift in [-1, 0, 1] -%}
    select
        partner_code,
        {{ add_months('month', shift) }} as month
    from crm_months
    where month is not null
    {% if not loop.last %}union{% endif %}
    {% endfor %}

),

latest as (

    select
        partner_code,
        max(created_at) as latest_at
    from contacts
    where record_status = 'valid'
    group by partner_code

),

policy_window as (

    -- calendar days that cover the longest complaint policy (working days) and 7 days
    select
        partner_code,
        greatest(max(response_working_days) * 2 + 14, 7) as window_days
    from complaint_policy
    group by partner_code

),

latest_windows as (

    select
        previous_latest.partner_code,
        cast(
            least(
                previous_latest.previous_latest_at,
                coalesce(latest.latest_at, previous_latest.previous_latest_at)
            ) as date
        ) as earliest_latest_date,
        cast(
            greatest(
                previous_latest.previous_latest_at,
                coalesce(latest.latest_at, previous_latest.previous_latest_at)
            ) as date
        ) as window_end,
        coalesce(policy_window.window_days, 7) as window_days
    from previous_latest
    left join latest
        on previous_latest.partner_code = latest.partner_code
    left join policy_window
        on previous_latest.partner_code = policy_window.partner_code
    where previous_latest.previous_latest_at is distinct from latest.latest_at

),

latest_months as (

    select distinct
        latest_windows.partner_code,
        calendar.month_start as month
    from latest_windows
    inner join calendar
        on
            latest_windows.window_end >= calendar.date_day
            and {{ dbt.dateadd(
                'day', '-1 * latest_windows.window_days', 'latest_windows.earliest_latest_date'
            ) }} <= calendar.date_day

),

changed_months as (

    select
        partner_code,
        month
    from call_months
    union
    select
        partner_code,
        month
    from service_standard_months
    union
    select
        partner_code,
        month
    from crm_neighbours
    union
    select
        partner_code,
        month
    from latest_months

),

final as (

    select
        changed_months.partner_code,
        changed_months.month,
        true as has_changed_rows
    from changed_months
    union all
    -- months touched only through customers: their contacts are redone one by one
    -- (int_build__scope_customers), their aggregates month by month
    select
        customer_months.partner_code,
        customer_months.month,
        false as has_changed_rows
    from customer_months
    where not exists (
        select 1 as is_changed
        from changed_months
        where
            changed_months.partner_code = customer_months.partner_code
            and changed_months.month = customer_months.month
    )

)

select * from final
