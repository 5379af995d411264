-- Activity rows of the current report of each city and month; they count in the report's month.
select a.*
from {{ ref('stg_reports__activities') }} as a
inner join {{ ref('int_reports__current') }} using (file_sha256)
