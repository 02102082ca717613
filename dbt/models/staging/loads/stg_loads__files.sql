with

load_files as (

    select * from {{ source('raw', 'load_files') }}

),

final as (

    select
        partner_code,
        source,
        delivery_key,
        source_file,
        file_hash,
        file_bytes,
        rows_read,
        rows_loaded,
        rows_rejected,
        file_lines,
        quoted_line_breaks,
        encoding,
        encoding_fallback,
        period_month,
        load_id,
        loaded_at
    from load_files

)

select * from final
