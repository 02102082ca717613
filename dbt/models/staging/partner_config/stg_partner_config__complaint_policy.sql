with

complaint_policy as (

    select * from {{ source('raw', 'partner_complaint_policy') }}

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

default_policy as (

    select
        default_stages.feedback_stage,
        default_stages.response_working_days
    from (
        values
        (1, 10),
        (2, 20)
    ) as default_stages (feedback_stage, response_working_days)

),

partner_stages as (

    select
        partners.partner_code,
        default_policy.feedback_stage,
        default_policy.response_working_days as default_working_days
    from partners
    cross join default_policy

),

final as (

    select
        partner_stages.partner_code,
        partner_stages.feedback_stage,
        coalesce(
            cast(complaint_policy.response_working_days as integer),
            partner_stages.default_working_days
        ) as response_working_days,
        complaint_policy.partner_code is null as is_default
    from partner_stages
    left join complaint_policy
        on
            partner_stages.partner_code = complaint_policy.partner_code
            and partner_stages.feedback_stage = complaint_policy.feedback_stage

)

select * from final
