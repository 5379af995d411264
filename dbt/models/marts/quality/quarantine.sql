-- One row per row set aside. Personal data in raw_row was masked by the parser; a workbook
-- row also names its sheet (工作表), so that file, sheet and row point at one row.
select
    source,
    file_name,
    row_number,
    reason_code,
    reason,
    case
        when sheet is null then raw_row
        else json_merge_patch(json_object('工作表', sheet), raw_row)
    end as raw_row
from {{ ref('stg_audit__quarantine') }}
