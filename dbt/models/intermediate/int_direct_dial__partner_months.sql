{#- The direct-dial extract per partner x month (docs/kpi-definitions.md, "A separate
    direct-dial extract"): one row per month the extract was delivered for (the period of a
    loaded file, or the month of any of its rows: a file without a period covers the months of
    its rows), with the valid extract calls that started in it (0 when none). A month with no
    row here was not delivered: csc_call_share_pct does not count it as none. -#}

with

calls as {{ inline_cte() }} (

    select * from {{ ref('fct_direct_dial_calls') }}

),

validated as (

    select * from {{ ref('int_direct_dial_calls__validated') }}

),

load_files as (

    -- a loaded file with a period (a header-only file: a month without direct dials; a
    -- file whose every line was rejected delivered nothing)
    select * from {{ ref('stg_loads__files') }}
    where
        source = 'direct_dial'
        and period_month is not null
        and (rows_loaded > 0 or rows_read = 0)

),

delivered_months as (

    select
        partner_code,
        period_month as month
    from load_files
    union
    select
        partner_code,
        period_month as month
    from validated
    where period_month is not null
    union
    select
        partner_code,
        call_month as month
    from calls

),

counted as (

    select
        partner_code,
        call_month as month,
        count(*) as direct_dial_calls
    from calls
    group by partner_code, call_month

),

final as (

    select
        delivered_months.partner_code,
        delivered_months.month,
        coalesce(counted.direct_dial_calls, 0) as direct_dial_calls
    from delivered_months
    left join counted
        on
            delivered_months.partner_code = counted.partner_code
            and delivered_months.month = counted.month

)

select * from final
