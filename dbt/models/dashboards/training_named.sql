-- The training mart as its dashboard reads it: with the year, the city and county names (a
-- city-level row is 市本级) and whether the row is of the newest year (see activities_named).
-- Tagged per_night: is_due is against the build's time, so a night builds it even when no
-- report came (dbt/selectors.yml).
{{ config(tags=['per_night']) }}
with newest as (
    select max(year(month)) as newest_year from {{ ref('training_monthly') }}
)

select
    t.*,
    cast(year(t.month) as integer) as year,
    ci.city_name,
    coalesce(co.county_name, '市本级') as county_name,
    year(t.month) = n.newest_year as is_newest_year,
    -- the month's reports are due by this build (the 10th of the next month): the monthly
    -- charts leave out a month still open to reports, whose half-reported figures read as a fall
    {{ report_due_at('t.month') }} < {{ report_now() }} as is_due
from {{ ref('training_monthly') }} as t
cross join newest as n
inner join {{ ref('regions_cities') }} as ci on t.city_code = ci.city_code
left join {{ ref('regions_counties') }} as co on t.county_code = co.county_code
