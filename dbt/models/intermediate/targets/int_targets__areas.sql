-- 指导性任务数 by year for the cities and the province (city_code NULL): issued per city for JSGA
-- only, and not from 2024 on; the province's is the sum of its cities' for the years they were
-- issued. Counties have none. The yearly and the to-date marts both read it.
select
    year,
    city_code,
    target_units
from {{ ref('stg_targets__units') }}
union all
select
    year,
    null as city_code,
    sum(target_units) as target_units
from {{ ref('stg_targets__units') }}
group by year
