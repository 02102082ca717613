with

outcome_codes as (

    select * from {{ source('raw', 'partner_outcome_codes') }}

),

final as (

    select
        partner_code,
        source,
        outcome_code,
        outcome
    from outcome_codes

)

select * from final
