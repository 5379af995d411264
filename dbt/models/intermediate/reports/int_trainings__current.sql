-- Training rows of the current report of each city and month; they count in the report's month.
select
    t.*,
    -- a course without an end date lasts its start day
    coalesce(datediff('day', t.starts_on, t.ends_on) + 1, 1) as days
from {{ ref('stg_reports__trainings') }} as t
inner join {{ ref('int_reports__current') }} using (file_sha256)
