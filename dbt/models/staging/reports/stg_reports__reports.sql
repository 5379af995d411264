-- One row per accepted workbook (loaded or superseded by a revision).
select
    file_sha256,
    file_name,
    city_code,
    month,
    filled_on,
    marked_revision,
    received_at,
    is_current,
    total_mismatches
from {{ source('reports', 'reports') }}
