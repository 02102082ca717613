{#-
    The partner-months an incremental build recomputes (docs/architecture.md, "Incremental
    builds"): one row per partner x month. Every aggregate model (daily and monthly KPIs, the
    scorecard) deletes and recomputes these months; fct_contacts and fct_satisfaction redo the
    contacts of the months with has_changed_rows and, in other months, only the contacts of
    the customers in int_build__scope_customers.
    A month is in scope when
    - rows of a redone delivery fall in it, now or before this build (their delivery's period
      month or their own month);
    - it is next to a CRM month in scope (duplicate cases look back 60 minutes and repeat
      contact 7 days ahead, across a month boundary);
    - a contact whose customer label changed falls in it, or a complaint of a customer with a
      contact in a redone delivery or a changed label (repeat complainants look back 365 days);
    - the partner's latest contact moved and the month is near it (repeat contact needs 7 days
      after a contact, complaint policy its due date, both measured up to the latest contact).
    Telephony months also bring their next month (month-on-month change) and the scorecard the
    month a year later (channel shift); those models add them. In a full build this model is
    not read.
-#}
with

scope_deliveries as (

    select * from {{ ref('stg_build__scope_deliveries') }}

),

previous_months as (

    select * from {{ ref('stg_build__scope_months') }}

),

previous_latest as (

    select * from {{ ref('stg_build__scope_partners') }}

),

calls as (

    select * from {{ ref('int_calls__validated') }}

),

contacts as (

    select * from {{ ref('int_contacts__validated') }}

),

customers as (

    select * from {{ ref('int_customers__resolved') }}

),

complaint_policy as (

    select * from {{ ref('stg_partner_config__complaint_policy') }}

),

plan as (

    select * from {{ ref('stg_build__plan') }}

),

redone_calls as (

    select
        calls.partner_code,
        calls.period_month,
        calls.started_at
    from calls
    inner join scope_deliveries
        on
            calls.partner_code = scope_deliveries.partner_code
            and calls.delivery_key = scope_deliveries.delivery_key
            and scope_deliveries.source = 'telephony'

),

redone_contacts as (

    select
        contacts.contact_id,
        contacts.partner_code,
        contacts.period_month,
        contacts.created_at
    from contacts
    inner join scope_deliveries
        on
            contacts.partner_code = scope_deliveries.partner_code
            and contacts.delivery_key = scope_deliveries.delivery_key
            and scope_deliveries.source = 'crm'

),

telephony_months as (

    select partner_code, period_month as month from redone_calls
    union
    select partner_code, cast(date_trunc('month', started_at) as date) from redone_calls
    union
    select partner_code, month from previous_months
    where source = 'telephony'

),

scope_customers as (

    select * from {{ ref('int_build__scope_customers') }}

),

valid_complaints as (

    select
        contacts.contact_id,
        contacts.partner_code,
        contacts.created_at,
        customers.customer_id
    from contacts
    inner join customers
        on contacts.contact_id = customers.contact_id
    where
        contacts.record_status = 'valid'
        and contacts.feedback_type = 'complaint'
        and customers.customer_id is not null

),

customer_months as (

    -- every contact of a customer merged or split in this build
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
        cast(date_trunc('month', later.created_at) as date)
    from valid_complaints as later
    inner join valid_complaints as redone
        on
            later.customer_id = redone.customer_id
            and cast(later.created_at as date) > cast(redone.created_at as date)
            and cast(later.created_at as date)
            <= cast(redone.created_at as date) + interval 365 day
    inner join redone_contacts
        on redone.contact_id = redone_contacts.contact_id

),

crm_months as (

    select partner_code, period_month as month from redone_contacts
    union
    select partner_code, cast(date_trunc('month', created_at) as date) from redone_contacts
    union
    select partner_code, month from previous_months
    where source = 'crm'

),

crm_neighbours as (

    select
        crm_months.partner_code,
        cast(crm_months.month + shift.months * interval 1 month as date) as month
    from crm_months
    cross join (select unnest([-1, 0, 1]) as months) as shift
    where crm_months.month is not null

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
            least(previous_latest.previous_latest_at, coalesce(latest.latest_at, previous_latest.previous_latest_at))
            - coalesce(policy_window.window_days, 7) * interval 1 day
            as date
        ) as window_start,
        cast(
            greatest(previous_latest.previous_latest_at, coalesce(latest.latest_at, previous_latest.previous_latest_at))
            as date
        ) as window_end
    from previous_latest
    left join latest
        on previous_latest.partner_code = latest.partner_code
    left join policy_window
        on previous_latest.partner_code = policy_window.partner_code
    where previous_latest.previous_latest_at is distinct from latest.latest_at

),

latest_months as (

    select
        latest_windows.partner_code,
        cast(months.month as date) as month
    from latest_windows
    cross join lateral (
        select unnest(generate_series(
            date_trunc('month', latest_windows.window_start),
            date_trunc('month', latest_windows.window_end),
            interval 1 month
        )) as month
    ) as months

),

final as (

    select
        partner_code,
        month,
        true as has_changed_rows
    from (
        select partner_code, month from telephony_months
        where month is not null
        union
        select partner_code, month from crm_neighbours
        union
        select partner_code, month from latest_months
    )
    union all
    -- months touched only through customers: their contacts are redone one by one
    -- (int_build__scope_customers), their aggregates month by month
    select
        partner_code,
        month,
        false as has_changed_rows
    from customer_months
    where (partner_code, month) not in (
        select partner_code, month from telephony_months
        union
        select partner_code, month from crm_neighbours
        union
        select partner_code, month from latest_months
    )

)

select * from final
