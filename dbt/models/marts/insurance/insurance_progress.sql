-- 截至某日: the insurance KPIs of every day of each year held, as running sums of what each day
-- added (int_insurance__area_day, where each KPI is defined, as for the yearly marts: on 31
-- December the two agree row for row), for the province, its cities and its counties. The
-- newest year runs to the newest insurer file's day. A policy counts with its current status:
-- history is restated when a later file changes it. The running sums are kept by year in the work
-- database (int_insurance__running); the target, last year's figure and the population are
-- joined here, so a new target or yearbook is read on the night it arrives.
with progress as (
    select
        r.*,
        cast(t.target_units as bigint) as target_units,
        -- 序时进度: the share of the year gone by on the day
        dayofyear(r.as_of_date)
        / cast(dayofyear(make_date(r.year, 12, 31)) as double) as time_share
    from {{ ref('int_insurance__running') }} as r
    left join {{ ref('int_targets__areas') }} as t
        on
            r.year = t.year
            and r.product_code = 'JSGA'
            and r.area_level != 'county'
            and r.city_code is not distinct from t.city_code
)

select
    p.as_of_date,
    p.year,
    p.product_code,
    p.area_level,
    p.city_code,
    ci.city_name,
    p.county_code,
    co.county_name,
    p.policies_to_date,
    p.units_to_date,
    p.premium_to_date_yuan,
    p.insured_persons_to_date,
    p.claims_settled_to_date,
    p.claims_paid_to_date_yuan,
    {{ loss_ratio('p.claims_paid_to_date_yuan', 'p.premium_to_date_yuan') }} as loss_ratio_to_date,
    p.target_units,
    {{ completion_rate('p.units_to_date', 'p.target_units') }} as completion_rate_to_date,
    p.time_share,
    -- 超（慢）序时进度: completion ahead of (+) or behind (-) the share of the year gone by
    {{ completion_rate('p.units_to_date', 'p.target_units') }} - p.time_share as ahead_of_schedule,
    -- 上年同期: the same date of the year before (29 February takes 28 February); NULL before
    -- the first year held
    ly.units_to_date as units_same_day_last_year,
    p.units_to_date - ly.units_to_date as yoy_units_to_date,
    -- 占常住人口比例 to date: the newsletters' coverage on a day of the year (截至8月31日……占全区
    -- 常住人口的5.61%), against the population the yearly marts use
    cast(pop.resident_population as bigint) as resident_population,
    {{ coverage_rate('p.units_to_date', 'pop.resident_population') }} as coverage_rate_to_date
from progress as p
left join progress as ly
    on
        cast(p.as_of_date - interval 1 year as date) = ly.as_of_date
        and p.product_code = ly.product_code
        and p.area_level = ly.area_level
        and p.city_code is not distinct from ly.city_code
        and p.county_code is not distinct from ly.county_code
left join {{ ref('int_population__areas') }} as pop
    on
        p.year = pop.year
        and p.area_level = pop.area_level
        and p.city_code is not distinct from pop.city_code
        and p.county_code is not distinct from pop.county_code
left join {{ ref('regions_cities') }} as ci on p.city_code = ci.city_code
left join {{ ref('regions_counties') }} as co on p.county_code = co.county_code
