-- The year's insurance KPIs at county, city and province grain: the sums of what its days added
-- (int_insurance__area_day, where each KPI is defined), on the full grid of year x product x
-- area — counts and sums are 0 where nothing happened, loss_ratio NULL where the premium is 0.
with counties as (
    select
        county_code,
        city_code
    from {{ ref('regions_counties') }}
),

years as (
    select unnest(generate_series(min(year), max(year))) as year
    from {{ ref('int_insurance__area_day') }}
),

kpis as (
    select
        year,
        product_code,
        city_code,
        county_code,
        sum(policies) as policies,
        sum(units) as units,
        sum(premium_yuan) as premium_yuan,
        sum(insured_persons) as insured_persons,
        sum(claims_settled) as claims_settled,
        sum(claims_paid_yuan) as claims_paid_yuan
    from {{ ref('int_insurance__area_day') }}
    group by year, product_code, city_code, county_code
),

grid as (
    select
        y.year,
        pr.product_code,
        c.city_code,
        c.county_code,
        'county' as area_level
    from years as y
    cross join {{ ref('products') }} as pr
    cross join counties as c
    union all
    select
        y.year,
        pr.product_code,
        ci.city_code,
        null as county_code,
        'city' as area_level
    from years as y
    cross join {{ ref('products') }} as pr
    cross join {{ ref('regions_cities') }} as ci
    union all
    select
        y.year,
        pr.product_code,
        null as city_code,
        null as county_code,
        'province' as area_level
    from years as y
    cross join {{ ref('products') }} as pr
),

filled as (
    select
        g.year,
        g.product_code,
        g.city_code,
        g.county_code,
        g.area_level,
        cast(coalesce(k.policies, 0) as bigint) as policies,
        cast(coalesce(k.units, 0) as bigint) as units,
        cast(coalesce(k.premium_yuan, 0) as decimal(18, 2)) as premium_yuan,
        cast(coalesce(k.insured_persons, 0) as bigint) as insured_persons,
        cast(coalesce(k.claims_settled, 0) as bigint) as claims_settled,
        cast(coalesce(k.claims_paid_yuan, 0) as decimal(18, 2)) as claims_paid_yuan
    from grid as g
    left join kpis as k
        on
            g.year = k.year
            and g.product_code = k.product_code
            and g.city_code is not distinct from k.city_code
            and g.county_code is not distinct from k.county_code
)

select
    *,
    {{ loss_ratio('claims_paid_yuan', 'premium_yuan') }} as loss_ratio
from filled
