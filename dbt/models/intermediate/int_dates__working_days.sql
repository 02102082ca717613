with

dates as (

    select * from {{ ref('dim_date') }}

),

final as (

    select
        date_day,
        is_working_day,
        cast(
            count(case when is_working_day then 1 end) over (
                order by date_day
                rows between unbounded preceding and current row
            ) as integer
        ) as working_day_number
    from dates

)

select * from final
