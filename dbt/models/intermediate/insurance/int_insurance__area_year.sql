-- The insurance KPIs of KPIS.md, each written once, at the three grains (county, city and the
-- province, whose distinct persons cannot be summed from its cities) in one GROUPING SETS
-- pass, on the full grid of year x product x area: counts and sums are 0 where nothing
-- happened, loss_ratio NULL where the premium is 0. A table (in the working schema, dropped
-- before publication): the marts, a test and the calendar read it, and a view would aggregate
-- every policy four times.
{{ config(materialized='table') }}

with counties as (
    select
        county_code,
        city_code
    from {{ ref('regions_counties') }}
),

facts as (
    select
        'policy' as fact,
        p.written_year as year,
        p.product_code,
        p.county_code,
        c.city_code,
        p.is_in_force_or_expired as counted,
        p.units,
        p.premium_net_yuan,
        p.person_key,
        cast(null as decimal(18, 2)) as paid_yuan
    from {{ ref('int_policies__current') }} as p
    inner join counties as c using (county_code)
    union all
    select
        'claim' as fact,
        cl.settled_year as year,
        cl.product_code,
        cl.county_code,
        c.city_code,
        cl.is_settled_paid as counted,
        null as units,
        null as premium_net_yuan,
        null as person_key,
        cl.paid_yuan
    from {{ ref('int_claims__current') }} as cl
    inner join counties as c using (county_code)
    where cl.is_settled_paid
),

kpis as (
    select
        year,
        product_code,
        city_code,
        county_code,
        -- 承保件数: policies written in the year whose current status is not 退保
        count(*) filter (where fact = 'policy' and counted) as policies,
        -- 承保份数
        sum(units) filter (where fact = 'policy' and counted) as units,
        -- 保费收入: net premium of every policy written in the year, cancelled ones included
        sum(premium_net_yuan) filter (where fact = 'policy') as premium_yuan,
        -- 参保人数: distinct keyed hashes of the insured among the counted policies
        count(distinct person_key) filter (where fact = 'policy' and counted) as insured_persons,
        -- 理赔件数 / 理赔金额: settled with a payment, by 结案日期
        count(*) filter (where fact = 'claim') as claims_settled,
        sum(paid_yuan) filter (where fact = 'claim') as claims_paid_yuan
    from facts
    group by grouping sets (  -- noqa: PRS
        (year, product_code, city_code, county_code),
        (year, product_code, city_code),
        (year, product_code)
    )
),

years as (
    select unnest(generate_series(min(year), max(year))) as year
    from facts
),

grid as (
    select
        y.year,
        pr.product_code,
        c.city_code,
        c.county_code
    from years as y
    cross join {{ ref('products') }} as pr
    cross join counties as c
    union all
    select
        y.year,
        pr.product_code,
        ci.city_code,
        null as county_code
    from years as y
    cross join {{ ref('products') }} as pr
    cross join {{ ref('regions_cities') }} as ci
    union all
    select
        y.year,
        pr.product_code,
        null as city_code,
        null as county_code
    from years as y
    cross join {{ ref('products') }} as pr
),

filled as (
    select
        g.year,
        g.product_code,
        g.city_code,
        g.county_code,
        case
            when g.county_code is not null then 'county'
            when g.city_code is not null then 'city'
            else 'province'
        end as area_level,
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
    -- 赔付率: calendar-year basis; no premium, no ratio
    case
        when premium_yuan != 0 then cast(claims_paid_yuan as double) / cast(premium_yuan as double)
    end as loss_ratio
from filled
