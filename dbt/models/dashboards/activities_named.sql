-- The activities mart as its dashboards read it: with the year, the city and county names (a
-- city-level row is 市本级) and the newest-year flags, stored so that Superset reads a table
-- (a virtual dataset costs it a connection and a SQL parse per request). Labels only: the
-- KPIs are the mart's, in its meta.superset.metrics.
-- Tagged per_night: is_due is against the build's time, so a night builds it even when no
-- report came (dbt/selectors.yml).
{{ config(tags=['per_night']) }}
with newest as (
    select max(year(month)) as newest_year from {{ ref('activities_monthly') }}
)

select
    a.*,
    cast(year(a.month) as integer) as year,
    ci.city_name,
    coalesce(co.county_name, '市本级') as county_name,
    -- 本年与上年 of 项目概览: the newest year the warehouse holds and the one before
    year(a.month) >= n.newest_year - 1 as this_or_last_year,
    year(a.month) = n.newest_year as is_newest_year,
    -- the month's reports are due by this build (the 10th of the next month): the monthly
    -- charts leave out a month still open to reports, whose half-reported figures read as a fall
    {{ report_due_at('a.month') }} < {{ report_now() }} as is_due
from {{ ref('activities_monthly') }} as a
cross join newest as n
inner join {{ ref('regions_cities') }} as ci on a.city_code = ci.city_code
left join {{ ref('regions_counties') }} as co on a.county_code = co.county_code
