select
    source,
    file_name,
    file_sha256,
    received_at,
    status,
    reason_code,
    reason,
    rows_received,
    rows_loaded,
    rows_quarantined,
    processed_at
from {{ source('audit', 'load_audit') }}
