-- 培训 KPIs by month (the report's), county, audience and mode.
select
    month,
    city_code,
    county_code,
    audience,
    mode,
    cast(count(*) as bigint) as courses,
    cast(coalesce(sum(trainees), 0) as bigint) as trainees,
    cast(coalesce(sum(trainees * days), 0) as bigint) as trainee_days,
    cast(coalesce(sum(hours), 0) as decimal(18, 2)) as hours
from {{ ref('int_trainings__current') }}
group by month, city_code, county_code, audience, mode
