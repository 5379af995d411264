-- The contract's city table: the city rows of insurance_area_year, where target, completion
-- rate, yoy and coverage are joined.
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
    yoy_units,
    resident_population,
    population_year,
    coverage_rate
from {{ ref('insurance_area_year') }}
where area_level = 'city'
