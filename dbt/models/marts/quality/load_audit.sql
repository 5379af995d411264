-- One row per file received (a name with a content), with what became of it.
select
    source,
    file_name,
    file_sha256,
    received_at,
    status,
    reason,
    rows_received,
    rows_loaded,
    rows_quarantined
from {{ ref('stg_audit__load_audit') }}
