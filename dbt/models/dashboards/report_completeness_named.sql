-- The report completeness matrix with the year, a month label and the newest-year flag.
with newest as (
    select max(year(month)) as newest_year from {{ ref('report_completeness') }}
)

select
    r.*,
    cast(year(r.month) as integer) as year,
    strftime(r.month, '%Y-%m') as month_label,
    year(r.month) = n.newest_year as is_newest_year
from {{ ref('report_completeness') }} as r
cross join newest as n
