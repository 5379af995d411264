select
    cast(a.year as integer) as year,
    a.product_code,
    a.city_code,
    c.city_name,
    a.county_code,
    c.county_name,
    a.policies,
    a.units,
    a.premium_yuan,
    a.insured_persons,
    a.claims_settled,
    a.claims_paid_yuan,
    a.loss_ratio
from {{ ref('int_insurance__area_year') }} as a
inner join {{ ref('regions_counties') }} as c using (county_code)
where a.area_level = 'county'
