with

contacts as (

    select * from {{ ref('fct_contacts') }}

),

measures as (

    select
        partner_code,
        created_month as month,
        channel_code,
        service_line_code,
        {{ crm_contact_measures() }}
    from contacts
    group by partner_code, created_month, channel_code, service_line_code

),

final as (

    select
        *,
        {{ crm_contact_kpi_figures() }}
    from measures

)

select * from final
