{#-
    All-channel contact (CRM) KPI building blocks shared by kpi_contact_monthly and
    kpi_scorecard, so both use one definition (docs/kpi-definitions.md, "All-channel contact
    (CRM) KPIs").
-#}

{#- The avoidable-contact categories (seed avoidable_categories); one measure column
    avoidable_<category> in kpi_contact_monthly and one scorecard segment each. -#}
{% macro crm_avoidable_categories() -%}
    {{ return(['progress_chasing', 'service_failure', 'poor_communication', 'poor_signposting']) }}
{%- endmacro %}

{#- Counts and sums over fct_contacts rows (use inside a grouped select). -#}
{% macro crm_contact_measures() -%}
    count(*) as contacts,
    count(*) filter (where is_resolved_first_contact is not null) as fpoc_flagged,
    count(*) filter (where is_resolved_first_contact) as fpoc_resolved,
    count(*) filter (where has_repeat_within_7_days is not null) as repeat_assessable,
    count(*) filter (where has_repeat_within_7_days) as repeated_7d,
    count(*) filter (
        where is_resolved_first_contact and has_repeat_within_7_days is not null
    ) as fpoc_repeat_assessable,
    count(*) filter (
        where is_resolved_first_contact and has_repeat_within_7_days
    ) as fpoc_repeated_7d,
    count(*) filter (where has_avoidable_reason) as avoidable_flagged,
    count(*) filter (where is_avoidable) as avoidable_contacts,
    {% for category in crm_avoidable_categories() -%}
        count(*) filter (
            where avoidable_category = '{{ category }}'
        ) as avoidable_{{ category }},
    {% endfor -%}
    coalesce(sum(unit_cost_gbp), 0) as cost_gbp,
    count(*) filter (where is_resolved) as resolved_contacts,
    count(satisfaction_score) as satisfaction_responses,
    count(satisfaction_score) filter (where is_resolved) as resolved_satisfaction_responses,
    count(*) filter (where satisfaction_score >= 4) as satisfied_responses,
    count(*) filter (where feedback_type = 'complaint') as complaints,
    count(*) filter (where feedback_type = 'comment') as comments,
    count(*) filter (where feedback_type = 'compliment') as compliments,
    count(feedback_type) as feedback_given,
    count(customer_id) as identified_contacts,
    count(*) filter (where is_duplicate_case) as duplicate_cases,
    count(*) filter (where has_phone) as phones_given,
    count(*) filter (where has_phone and is_phone_valid) as phones_valid,
    count(*) filter (where has_postcode) as postcodes_given,
    count(*) filter (where has_postcode and is_postcode_valid) as postcodes_valid
{%- endmacro %}

{#- The additive measure columns above (they can be summed to any coarser grain). -#}
{% macro crm_contact_measure_columns() -%}
    {%- set columns = [
        'contacts', 'fpoc_flagged', 'fpoc_resolved', 'repeat_assessable', 'repeated_7d',
        'fpoc_repeat_assessable', 'fpoc_repeated_7d', 'avoidable_flagged', 'avoidable_contacts',
    ] -%}
    {%- for category in crm_avoidable_categories() -%}
        {%- do columns.append('avoidable_' ~ category) -%}
    {%- endfor -%}
    {%- do columns.extend([
        'cost_gbp', 'resolved_contacts', 'satisfaction_responses',
        'resolved_satisfaction_responses', 'satisfied_responses',
        'complaints', 'comments', 'compliments', 'feedback_given', 'identified_contacts',
        'duplicate_cases', 'phones_given',
        'phones_valid', 'postcodes_given', 'postcodes_valid',
    ]) -%}
    {{ return(columns) }}
{%- endmacro %}

{#- KPI values from the measures above (any grain). Not measured is not zero: a KPI whose
    input no contact carries (the partner maps no such field, or none of the month's contacts
    has a value) is null, never 0 (macro measured_or_null). -#}
{% macro crm_contact_kpi_figures() -%}
    {{ percentage('fpoc_resolved', 'fpoc_flagged') }} as fpoc_pct,
    {{ percentage('repeated_7d', 'repeat_assessable') }} as repeat_contact_7d_pct,
    {{ measured_or_null('avoidable_flagged', percentage('avoidable_contacts', 'contacts')) }}
        as avoidable_contact_pct,
    {{ safe_divide('cost_gbp', 'contacts') }} as cost_per_contact_gbp,
    {{ percentage('satisfied_responses', 'satisfaction_responses') }} as csat_pct
{%- endmacro %}

{#- Rate per 1,000 (complaints_per_1000). Division by zero (or by null) gives null. -#}
{% macro per_thousand(numerator, denominator) -%}
    1000 * cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- `figure` when at least one contact carried its input (`inputs_column` > 0), else null: the
    KPI was not measured (docs/kpi-definitions.md, "Not measured is not zero"). -#}
{% macro measured_or_null(inputs_column, figure) -%}
    case when {{ inputs_column }} > 0 then {{ figure }} end
{%- endmacro %}
