select
    source,
    file_name,
    file_sha256,
    sheet,
    row_number,
    reason_code,
    reason,
    raw_row
from {{ source('audit', 'quarantine') }}
