-- The dashboards' insurance table: the province, its cities and its counties in one table, so a
-- big number reads one row (the province's when no city is chosen) and the county table gets
-- its year-on-year change. Target, completion rate and yoy are defined here, once;
-- insurance_city_year reads its rows from this model.
with areas as (
    select
        a.*,
        case a.area_level
            when 'province' then '450000'
            when 'city' then a.city_code
            else a.county_code
        end as area_code
    from {{ ref('int_insurance__area_year') }} as a
),

targets as (
    -- 指导性任务数: issued per city for JSGA only, and not from 2024 on; the province's is the
    -- sum of its cities' for the years they were issued
    select
        year,
        city_code,
        target_units
    from {{ ref('stg_targets__units') }}
    union all
    select
        year,
        null as city_code,
        sum(target_units) as target_units
    from {{ ref('stg_targets__units') }}
    group by year
)

select
    cast(a.year as integer) as year,
    a.product_code,
    p.product_name,
    a.area_level,
    a.area_code,
    case a.area_level
        when 'province' then '广西壮族自治区'
        when 'city' then ci.city_name
        else co.county_name
    end as area_name,
    a.city_code,
    ci.city_name,
    a.county_code,
    a.policies,
    a.units,
    a.premium_yuan,
    a.insured_persons,
    a.claims_settled,
    a.claims_paid_yuan,
    a.loss_ratio,
    cast(t.target_units as bigint) as target_units,
    -- 完成率: no target, no rate (never 0, never a division error)
    case
        when t.target_units > 0 then cast(a.units as double) / t.target_units
    end as completion_rate,
    -- 同比增减: NULL for the first year the warehouse holds
    cast(a.units - lag(a.units) over (
        partition by a.product_code, a.area_code order by a.year
    ) as bigint) as yoy_units,
    -- the dashboards show the newest year the warehouse holds until a year is chosen
    a.year = max(a.year) over () as is_newest_year
from areas as a
inner join {{ ref('products') }} as p using (product_code)
left join {{ ref('regions_cities') }} as ci on a.city_code = ci.city_code
left join {{ ref('regions_counties') }} as co on a.county_code = co.county_code
left join targets as t
    on
        a.year = t.year
        and a.product_code = 'JSGA'
        and a.area_level != 'county'
        and a.city_code is not distinct from t.city_code
