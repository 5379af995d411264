-- The reporting rates with the year, a month label and the newest-year flag.
with newest as (
    select max(year(month)) as newest_year from {{ ref('reporting_rates') }}
)

select
    r.*,
    cast(year(r.month) as integer) as year,
    strftime(r.month, '%Y-%m') as month_label,
    year(r.month) = n.newest_year as is_newest_year
from {{ ref('reporting_rates') }} as r
cross join newest as n
