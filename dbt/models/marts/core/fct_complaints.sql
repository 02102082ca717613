with

contacts as (

    select * from {{ ref('fct_contacts') }}

),

validated as (

    select * from {{ ref('int_contacts__validated') }}
    where record_status = 'valid'

),

working_days as {{ inline_cte() }} (

    select * from {{ ref('int_dates__working_days') }}

),

complaint_policy as (

    select * from {{ ref('stg_partner_config__complaint_policy') }}

),

feedback as (

    select
        contacts.contact_id,
        contacts.partner_code,
        contacts.customer_id,
        contacts.channel_code,
        contacts.service_line_code,
        contacts.feedback_type,
        contacts.created_date as received_date,
        contacts.created_month as received_month,
        cast(validated.responded_at as date) as responded_date,
        validated.responded_at is not null as is_responded,
        case
            when contacts.feedback_type = 'complaint'
                then coalesce(validated.feedback_stage, 1)
        end as feedback_stage,
        max(contacts.created_date) over (partition by contacts.partner_code) as as_of_date
    from contacts
    inner join validated
        on contacts.contact_id = validated.contact_id
    where contacts.feedback_type is not null

),

counted as (

    select
        feedback.*,
        complaint_policy.response_working_days as policy_working_days,
        received_days.working_day_number as received_working_day_number,
        responded_days.working_day_number - received_days.working_day_number
            as response_working_days
    from feedback
    left join complaint_policy
        on
            feedback.partner_code = complaint_policy.partner_code
            and feedback.feedback_stage = complaint_policy.feedback_stage
    left join working_days as received_days
        on feedback.received_date = received_days.date_day
    left join working_days as responded_days
        on feedback.responded_date = responded_days.date_day

),

due as (

    select
        counted.contact_id,
        due_days.date_day as due_date
    from counted
    inner join working_days as due_days
        on
            counted.received_working_day_number + counted.policy_working_days
            = due_days.working_day_number
            and due_days.is_working_day

),

repeat_complainants as (

    select
        complaint.contact_id,
        count(earlier.contact_id) > 0 as has_earlier_complaint
    from feedback as complaint
    left join feedback as earlier
        on
            complaint.partner_code = earlier.partner_code
            and complaint.customer_id = earlier.customer_id
            and earlier.feedback_type = 'complaint'
            and {{ add_interval('complaint.received_date', -365, 'day') }} <= earlier.received_date
            and complaint.received_date > earlier.received_date
    where complaint.feedback_type = 'complaint'
    group by complaint.contact_id

),

final as (

    select
        counted.contact_id,
        counted.partner_code,
        counted.customer_id,
        counted.channel_code,
        counted.service_line_code,
        counted.feedback_type,
        counted.feedback_stage,
        counted.received_date,
        counted.received_month,
        counted.responded_date,
        counted.is_responded,
        counted.policy_working_days,
        due.due_date,
        counted.response_working_days,
        case
            when counted.feedback_type = 'complaint'
                then counted.is_responded or due.due_date < counted.as_of_date
        end as is_policy_assessable,
        case
            when counted.feedback_type = 'complaint'
                then coalesce(counted.responded_date <= due.due_date, false)
        end as is_answered_in_policy,
        case
            when counted.feedback_type = 'complaint'
                then coalesce(repeat_complainants.has_earlier_complaint, false)
        end as is_repeat_complainant
    from counted
    left join due
        on counted.contact_id = due.contact_id
    left join repeat_complainants
        on counted.contact_id = repeat_complainants.contact_id

)

select * from final
