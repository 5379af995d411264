-- 占常住人口比例 as the 进度 dashboard reads it: the yearly insurance table (the province, its
-- cities and counties) under the name that carries the coverage metrics (this folder's YAML:
-- coverage_rate picked from the one row chosen, never recomputed). A city's viewer sees their
-- rows only (city_code, as on the mart).
select *
from {{ ref('insurance_area_year') }}
