-- Units x the product's price band brackets the premium of every city and year: a premium
-- keyed in 万元 or a lost refund would fall outside (the parser quarantines single rows that
-- are 1,000x off; this catches what adds up wrong). A warning here: a delivery that starts
-- mid-stream (a refund whose first version came earlier) is out of band and still true; the
-- gate blocks what is off by a unit factor.
{{ config(severity='warn') }}

select
    c.year,
    c.product_code,
    c.city_code,
    c.units,
    c.premium_yuan
from {{ ref('insurance_city_year') }} as c
inner join {{ ref('products') }} as p using (product_code)
where
    c.premium_yuan < c.units * p.unit_price_min_yuan
    or c.premium_yuan > c.units * p.unit_price_max_yuan
