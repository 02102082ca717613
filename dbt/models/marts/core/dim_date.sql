{#-
    The calendar spans the whole years of the data loaded (macro calendar_bounds), from
    var earliest_timestamp at the earliest: a partner's history from the 1990s gets its days,
    and a year of data is never outside the calendar.
-#}
{%- set first_day, last_day = calendar_bounds() -%}
-- depends_on: {{ ref('int_calls__validated') }}
-- depends_on: {{ ref('int_contacts__validated') }}
-- depends_on: {{ ref('int_voicemails__validated') }}
-- depends_on: {{ ref('int_reception_tickets__validated') }}
-- depends_on: {{ ref('int_web_days__validated') }}

with

bank_holidays as (

    select * from {{ ref('uk_bank_holidays') }}

),

spine as (

    {{ calendar_days(
        "cast('" ~ first_day ~ "' as date)",
        "cast('" ~ last_day ~ "' as date)"
    ) }}

),

days as (

    select
        spine.date_day,
        bank_holidays.holiday_name,
        cast(date_trunc('month', spine.date_day) as date) as month_start,
        cast(year(spine.date_day) as integer) as calendar_year,
        cast(month(spine.date_day) as integer) as month_of_year,
        cast({{ iso_day_of_week('spine.date_day') }} as integer) as iso_dow,
        cast(
            case
                when month(spine.date_day) >= 4 then year(spine.date_day)
                else year(spine.date_day) - 1
            end as integer
        ) as financial_year_start,
        {{ month_name('spine.date_day') }} as month_name,
        {{ day_name('spine.date_day') }} as day_name,
        {{ iso_day_of_week('spine.date_day') }} in (6, 7) as is_weekend,
        bank_holidays.holiday_date is not null as is_bank_holiday
    from spine
    left join bank_holidays
        on spine.date_day = bank_holidays.holiday_date

),

labelled as (

    select
        *,
        not is_weekend and not is_bank_holiday as is_working_day,
        cast(financial_year_start as {{ dbt.type_string() }})
        || '-'
        || substr(cast(financial_year_start + 1 as {{ dbt.type_string() }}), -2) as financial_year
    from days

),

final as (

    select
        date_day,
        month_start,
        calendar_year,
        month_of_year,
        month_name,
        iso_dow,
        day_name,
        is_weekend,
        is_bank_holiday,
        holiday_name,
        is_working_day,
        financial_year_start,
        financial_year
    from labelled

)

select * from final
