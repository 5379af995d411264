-- The city grain is the sum of its counties for every additive KPI (persons are distinct per
-- area, so a city may count fewer than the sum of its counties, never more).
with counties as (
    select
        year,
        product_code,
        city_code,
        sum(policies) as policies,
        sum(units) as units,
        sum(premium_yuan) as premium_yuan,
        sum(insured_persons) as insured_persons,
        sum(claims_settled) as claims_settled,
        sum(claims_paid_yuan) as claims_paid_yuan
    from {{ ref('insurance_county_year') }}
    group by year, product_code, city_code
)

select c.*
from {{ ref('insurance_city_year') }} as c
inner join counties as k using (year, product_code, city_code)
where
    c.policies != k.policies
    or c.units != k.units
    or c.premium_yuan != k.premium_yuan
    or c.claims_settled != k.claims_settled
    or c.claims_paid_yuan != k.claims_paid_yuan
    or c.insured_persons > k.insured_persons
