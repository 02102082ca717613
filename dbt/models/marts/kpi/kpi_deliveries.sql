with

{% for source, model, duplicate_reason in validated_sources() -%}
{{ source }}_rows as (

    select * from {{ ref(model) }}

),

{% endfor -%}
rejected_rows as (

    select * from {{ ref('int_loads__rejected_rows') }}

),

file_lines as (

    {% for source, model, duplicate_reason in validated_sources() -%}
    select
        partner_code,
        '{{ source }}' as source,
        period_month,
        source_file,
        loaded_at,
        record_status as line_status,
        coalesce(
            quarantine_reason = '{{ duplicate_reason }}'
            or exclusion_reason = 'already_delivered',
            false
        ) as is_repeat
    from {{ source }}_rows

    union all

    {% endfor -%}
    select
        partner_code,
        source,
        period_month,
        source_file,
        loaded_at,
        'rejected' as line_status,
        false as is_repeat
    from rejected_rows

),

monthly as (

    select
        partner_code,
        source,
        period_month as month,
        count(distinct source_file) as files,
        count(*) as rows_read,
        count(*) filter (where line_status != 'rejected') as rows_loaded,
        count(*) filter (where line_status = 'rejected') as rows_rejected,
        count(*) filter (where line_status = 'quarantined') as rows_quarantined,
        count(*) filter (where line_status = 'excluded') as rows_excluded,
        count(*) filter (where line_status = 'valid') as rows_valid,
        max(loaded_at) as last_loaded_at,
        -- files with a line that is not a repeat of another's (a re-sent file does not count)
        count(distinct source_file) filter (where not is_repeat) as new_files
    from file_lines
    group by partner_code, source, period_month

),

file_months as (

    -- per file: how many of its lines fall in a known month
    select
        partner_code,
        source,
        source_file,
        count(period_month) as dated_lines
    from file_lines
    group by partner_code, source, source_file

),

undated_files as (

    select
        partner_code,
        source,
        count(*) as files_without_month
    from file_months
    where dated_lines = 0
    group by partner_code, source

),

per_file as (

    select
        monthly.*,
        case
            when monthly.month is null then coalesce(undated_files.files_without_month, 0)
            else 0
        end as files_without_month,
        coalesce(
            cast(monthly.rows_valid as double) / nullif(monthly.new_files, 0), 0
        ) as rows_valid_per_file
    from monthly
    left join undated_files
        on
            monthly.partner_code = undated_files.partner_code
            and monthly.source = undated_files.source

),

compared as (

    -- the previous month with rows of the same partner and source (the null month apart)
    select
        *,
        lag(month) over (
            partition by partner_code, source, month is null
            order by month
        ) as previous_month,
        lag(rows_valid_per_file) over (
            partition by partner_code, source, month is null
            order by month
        ) as previous_rows_valid_per_file
    from per_file

),

final as (

    select
        partner_code,
        source,
        month,
        files,
        rows_read,
        rows_loaded,
        rows_rejected,
        rows_quarantined,
        rows_excluded,
        rows_valid,
        last_loaded_at,
        rows_valid_per_file,
        previous_month,
        previous_rows_valid_per_file,
        files_without_month,
        case
            when month is null then files_without_month > 0
            else coalesce(
                rows_valid_per_file
                < {{ var('vanishing_month_ratio') }} * previous_rows_valid_per_file,
                false
            )
        end as is_vanishing
    from compared

)

select * from final
