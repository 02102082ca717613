-- The KPI models need these rows in the kpi_definitions seed, with the thresholds and
-- targets they read. Returns each missing or incomplete KPI.

with

kpi_definitions as (

    select * from {{ ref('kpi_definitions') }}

),

required as (

    select
        required_kpis.kpi_code,
        required_kpis.needs_threshold,
        required_kpis.needs_target
    from (
        values
        ('tsf_pct', true, true),
        ('asa_seconds', false, true),
        ('abandon_rate_pct', true, true),
        ('sl_days_pct', false, true),
        ('aht_seconds', false, false),
        ('calls_offered', false, false),
        ('offered_mom_change_pct', false, false),
        ('out_of_hours_pct', false, false),
        ('answered_unknown_wait', false, false)
    ) as required_kpis (kpi_code, needs_threshold, needs_target)

),

final as (

    select
        required.kpi_code,
        kpi_definitions.kpi_code is null as is_missing,
        required.needs_threshold and kpi_definitions.threshold_seconds is null
            as lacks_threshold,
        required.needs_target and kpi_definitions.target is null as lacks_target
    from required
    left join kpi_definitions
        on required.kpi_code = kpi_definitions.kpi_code
    where
        kpi_definitions.kpi_code is null
        or (required.needs_threshold and kpi_definitions.threshold_seconds is null)
        or (required.needs_target and kpi_definitions.target is null)

)

select * from final
