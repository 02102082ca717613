with

plan as (

    select * from {{ source('build', 'plan') }}

),

final as (

    select
        build_id,
        mode as build_mode,
        reason as build_reason
    from plan

)

select * from final
