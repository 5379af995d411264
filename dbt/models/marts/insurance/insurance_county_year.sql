-- The contract's county table: the county rows of insurance_area_year.
select
    year,
    product_code,
    city_code,
    city_name,
    county_code,
    area_name as county_name,
    policies,
    units,
    premium_yuan,
    insured_persons,
    claims_settled,
    claims_paid_yuan,
    loss_ratio,
    resident_population,
    population_year,
    coverage_rate
from {{ ref('insurance_area_year') }}
where area_level = 'county'
