-- The KPI models need these rows in the kpi_definitions seed, with the thresholds and
-- targets they read and the unit kpi_scorecard pools the hub value by (the scorecard drops a
-- KPI without a row). Returns each missing, mis-unitised or incomplete KPI.

with

kpi_definitions as (

    select * from {{ ref('kpi_definitions') }}

),

required as (

    select
        required_kpis.kpi_code,
        required_kpis.unit,
        required_kpis.needs_threshold,
        required_kpis.needs_target
    from (
        values
        ('tsf_pct', 'pct', true, true),
        ('asa_seconds', 'seconds', false, true),
        ('abandon_rate_pct', 'pct', true, true),
        ('sl_days_pct', 'pct', false, true),
        ('aht_seconds', 'seconds', false, false),
        ('calls_offered', 'count', false, false),
        ('offered_mom_change_pct', 'pct', false, false),
        ('out_of_hours_pct', 'pct', false, false),
        ('answered_unknown_wait', 'count', false, false),
        ('contacts', 'count', false, false),
        ('fpoc_pct', 'pct', false, true),
        ('repeat_contact_7d_pct', 'pct', false, false),
        ('fpoc_repeat_7d_pct', 'pct', false, false),
        ('avoidable_contact_pct', 'pct', false, false),
        ('channel_mix_pct', 'pct', false, false),
        ('cost_per_contact_gbp', 'gbp', false, false),
        ('cost_to_serve_gbp', 'gbp', false, false),
        ('channel_shift_pts', 'pts', false, false),
        ('csat_pct', 'pct', false, false),
        ('csat_response_rate_pct', 'pct', false, false),
        ('complaints_per_1000', 'per_1000', false, false),
        ('complaints_in_policy_pct', 'pct', false, false),
        ('repeat_complainants', 'count', false, false),
        ('duplicate_case_pct', 'pct', false, false),
        ('data_accuracy_pct', 'pct', false, false)
    ) as required_kpis (kpi_code, unit, needs_threshold, needs_target)

),

final as (

    select
        required.kpi_code,
        kpi_definitions.kpi_code is null as is_missing,
        kpi_definitions.unit != required.unit as has_wrong_unit,
        required.needs_threshold and kpi_definitions.threshold_seconds is null
            as lacks_threshold,
        required.needs_target and kpi_definitions.target is null as lacks_target
    from required
    left join kpi_definitions
        on required.kpi_code = kpi_definitions.kpi_code
    where
        kpi_definitions.kpi_code is null
        or kpi_definitions.unit != required.unit
        or (required.needs_threshold and kpi_definitions.threshold_seconds is null)
        or (required.needs_target and kpi_definitions.target is null)

)

select * from final
