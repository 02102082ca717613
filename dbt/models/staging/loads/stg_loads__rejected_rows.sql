with

rejected_rows as (

    select * from {{ source('raw', 'rejected_rows') }}

),

renamed as (

    select
        partner_code,
        source,
        reason as reject_reason,
        raw_line,
        _source_file as source_file,
        _row_number as source_row_number,
        _file_hash as file_hash,
        _delivery_key as delivery_key,
        _load_id as load_id,
        _loaded_at as loaded_at
    from rejected_rows

),

final as (

    select
        *,
        partner_code
        || ':' || source
        || ':' || source_file
        || ':' || cast(source_row_number as {{ dbt.type_string() }}) as rejected_row_id
    from renamed

)

select * from final
