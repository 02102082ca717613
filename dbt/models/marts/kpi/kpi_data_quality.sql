with

{% for source, model, duplicate_reason in validated_sources() -%}
{{ source }}_rows as (

    select * from {{ ref(model) }}

),

{% endfor -%}

rejected_rows as {{ inline_cte() }} (

    select * from {{ ref('int_loads__rejected_rows') }}

),

quarantined as (

    {% for source, model, duplicate_reason in validated_sources() -%}
    select
        partner_code,
        '{{ source }}' as source,
        period_month,
        quarantine_reason as reason,
        count(*) as row_count
    from {{ source }}_rows
    where record_status = 'quarantined'
    group by partner_code, period_month, quarantine_reason
    {% if not loop.last %}
    union all

    {% endif -%}
    {% endfor %}
),

malformed as (

    select
        partner_code,
        source,
        period_month,
        'malformed_line' as reason,
        count(*) as row_count
    from rejected_rows
    group by partner_code, source, period_month

),

scrubbed as (

    -- rows whose free text held personal data, replaced by markers at load (docs/crm.md,
    -- "Free text"): counted, whatever became of the row; not a quarantine reason
    select
        partner_code,
        'crm' as source,
        period_month,
        'free_text_scrubbed' as reason,
        count(*) as row_count
    from crm_rows
    where
        enquiry_type like '%[email]%'
        or enquiry_type like '%[phone]%'
        or enquiry_type like '%[postcode]%'
    group by partner_code, period_month

),

source_rows as (

    {% for source, model, duplicate_reason in validated_sources() -%}
    select
        partner_code,
        '{{ source }}' as source,
        period_month,
        count(*) as row_count
    from {{ source }}_rows
    group by partner_code, period_month

    union all

    {% endfor -%}
    select
        partner_code,
        source,
        period_month,
        count(*) as row_count
    from rejected_rows
    group by partner_code, source, period_month

),

period_rows as (

    select
        partner_code,
        source,
        period_month,
        cast(sum(row_count) as bigint) as row_count
    from source_rows
    group by partner_code, source, period_month

),

reasons as (

    select * from quarantined
    union all
    select * from malformed
    union all
    select * from scrubbed

),

final as (

    select
        reasons.partner_code,
        reasons.source,
        reasons.period_month,
        reasons.reason,
        reasons.row_count,
        period_rows.row_count as period_row_count,
        {{ percentage('reasons.row_count', 'period_rows.row_count') }} as row_pct
    from reasons
    left join period_rows
        on
            reasons.partner_code = period_rows.partner_code
            and reasons.source = period_rows.source
            and reasons.period_month is not distinct from period_rows.period_month

)

select * from final
