-- 活动 KPIs by month (the report's), county (NULL: a city-level activity), type and project.
select
    month,
    city_code,
    county_code,
    activity_type,
    project,
    cast(count(*) as bigint) as activities,
    cast(coalesce(sum(participants), 0) as bigint) as participants,
    cast(coalesce(sum(service_visits), 0) as bigint) as service_visits,
    cast(coalesce(sum(materials), 0) as bigint) as materials,
    cast(coalesce(sum(funds_yuan), 0) as decimal(18, 2)) as funds_yuan,
    -- the part of participants that came from approximate entries (余, 多, 约 ...);
    -- 约数占比 = approx_participants / participants
    cast(
        coalesce(sum(participants) filter (where participants_approx), 0) as bigint
    ) as approx_participants
from {{ ref('int_activities__current') }}
group by month, city_code, county_code, activity_type, project
