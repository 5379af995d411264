-- 赔付率 is NULL exactly where the premium is 0, at both grains.
select
    'county' as grain,
    year,
    product_code,
    county_code as area,
    premium_yuan,
    loss_ratio
from {{ ref('insurance_county_year') }}
where (premium_yuan = 0) != (loss_ratio is null)
union all
select
    'city' as grain,
    year,
    product_code,
    city_code,
    premium_yuan,
    loss_ratio
from {{ ref('insurance_city_year') }}
where (premium_yuan = 0) != (loss_ratio is null)
