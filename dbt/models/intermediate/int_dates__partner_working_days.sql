{#- A partner's working days: the weekdays its opening_hours open (partner YAML), except
    England and Wales bank holidays (the calendar of int_dates__working_days, which is the
    Monday-to-Friday case); working_day_number counts them up to and including the day, so
    "n working days after day d" is the day whose number is d's + n. -#}
with

dates as (

    select * from {{ ref('int_dates__working_days') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

opening_hours as (

    select * from {{ ref('stg_partner_config__opening_hours') }}

),

days as (

    select
        partners.partner_code,
        dates.date_day,
        opening_hours.partner_code is not null
        and not calendar.is_bank_holiday as is_working_day
    from partners
    cross join dates
    inner join calendar
        on dates.date_day = calendar.date_day
    left join opening_hours
        on
            partners.partner_code = opening_hours.partner_code
            and calendar.iso_dow = opening_hours.iso_dow

),

final as (

    select
        partner_code,
        date_day,
        is_working_day,
        cast(
            count(case when is_working_day then 1 end) over (
                partition by partner_code
                order by date_day
                rows between unbounded preceding and current row
            ) as integer
        ) as working_day_number
    from days

)

select * from final
