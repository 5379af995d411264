-- The province's insurance rows of the newest year and the one before (项目概览).
with newest as (
    select max(year) as newest_year from {{ ref('insurance_area_year') }}
)

select i.*
from {{ ref('insurance_area_year') }} as i
cross join newest as n
where
    i.area_level = 'province'
    and i.year >= n.newest_year - 1
