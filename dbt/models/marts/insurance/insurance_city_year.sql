-- The contract's city table: the city rows of insurance_area_year, where target, completion
-- rate and yoy are defined.
select
    year,
    product_code,
    city_code,
    city_name,
    policies,
    units,
    premium_yuan,
    insured_persons,
    claims_settled,
    claims_paid_yuan,
    loss_ratio,
    target_units,
    completion_rate,
    yoy_units
from {{ ref('insurance_area_year') }}
where area_level = 'city'
