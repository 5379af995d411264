-- For every file: received = loaded + quarantined, always.
select *
from {{ ref('load_audit') }}
where rows_received != rows_loaded + rows_quarantined
