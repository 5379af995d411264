-- For every file: received = loaded + quarantined, always. dbt's, not the gate's: the ingest's
-- own bookkeeping, which no delivery can make untrue.
select *
from {{ ref('load_audit') }}
where rows_received != rows_loaded + rows_quarantined
