-- The report that counts for each city and month: the latest accepted one (fpa.ingest ranks
-- revisions: marked 修订/更正, then later 填报日期, then later arrival).
select
    file_sha256,
    city_code,
    month
from {{ ref('stg_reports__reports') }}
where is_current
