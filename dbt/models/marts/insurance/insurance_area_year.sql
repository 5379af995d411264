-- The dashboards' insurance table: the province, its cities and its counties in one table, so a
-- big number reads one row (the province's when no city is chosen) and the county table gets
-- its year-on-year change. Target, completion rate, yoy and coverage are joined here, once;
-- insurance_city_year and insurance_county_year read their rows from this model.
with areas as (
    select
        a.*,
        case a.area_level
            when 'province' then '450000'
            when 'city' then a.city_code
            else a.county_code
        end as area_code
    from {{ ref('int_insurance__area_year') }} as a
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
    {{ completion_rate('a.units', 't.target_units') }} as completion_rate,
    -- 同比增减: NULL for the first year the warehouse holds
    cast(a.units - lag(a.units) over (
        partition by a.product_code, a.area_code order by a.year
    ) as bigint) as yoy_units,
    -- the dashboards show the newest year the warehouse holds until a year is chosen
    a.year = max(a.year) over () as is_newest_year,
    cast(pop.resident_population as bigint) as resident_population,
    cast(pop.population_year as integer) as population_year,
    {{ coverage_rate('a.units', 'pop.resident_population') }} as coverage_rate
from areas as a
inner join {{ ref('products') }} as p using (product_code)
left join {{ ref('regions_cities') }} as ci on a.city_code = ci.city_code
left join {{ ref('regions_counties') }} as co on a.county_code = co.county_code
left join {{ ref('int_targets__areas') }} as t on {{ target_of('a', 't') }}
left join {{ ref('int_population__areas') }} as pop
    on a.year = pop.year and {{ same_area('a', 'pop') }}
