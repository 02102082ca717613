with

crm_codes as {{ inline_cte() }} (

    select * from {{ source('raw', 'partner_crm_codes') }}

),

partners as (

    select * from {{ ref('stg_partner_config__partners') }}

),

default_flag_codes as (

    select
        default_flags.code,
        default_flags.canonical
    from (
        values
        ('Y', 'true'),
        ('Yes', 'true'),
        ('y', 'true'),
        ('yes', 'true'),
        ('true', 'true'),
        ('1', 'true'),
        ('N', 'false'),
        ('No', 'false'),
        ('n', 'false'),
        ('no', 'false'),
        ('false', 'false'),
        ('0', 'false')
    ) as default_flags (code, canonical)

),

partners_with_flags as (

    select distinct partner_code
    from crm_codes
    where field = 'flag'

),

configured as (

    select
        partner_code,
        field,
        code,
        canonical,
        false as is_default
    from crm_codes

),

defaulted as (

    select
        partners.partner_code,
        'flag' as field,
        default_flag_codes.code,
        default_flag_codes.canonical,
        true as is_default
    from partners
    cross join default_flag_codes
    where
        partners.partner_code not in (
            select partners_with_flags.partner_code from partners_with_flags
        )

),

final as (

    select * from configured
    union all
    select * from defaulted

)

select * from final
