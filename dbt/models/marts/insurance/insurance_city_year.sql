with city_year as (
    select a.*
    from {{ ref('int_insurance__area_year') }} as a
    where a.area_level = 'city'
)

select
    cast(a.year as integer) as year,
    a.product_code,
    a.city_code,
    c.city_name,
    a.policies,
    a.units,
    a.premium_yuan,
    a.insured_persons,
    a.claims_settled,
    a.claims_paid_yuan,
    a.loss_ratio,
    -- 指导性任务数: issued for JSGA only, and not from 2024 on
    cast(t.target_units as bigint) as target_units,
    -- 完成率: no target, no rate (never 0, never a division error)
    case
        when t.target_units > 0 then cast(a.units as double) / t.target_units
    end as completion_rate,
    -- 同比增减: NULL for the first year the warehouse holds
    cast(a.units - lag(a.units) over (
        partition by a.product_code, a.city_code order by a.year
    ) as bigint) as yoy_units
from city_year as a
inner join {{ ref('regions_cities') }} as c using (city_code)
left join {{ ref('stg_targets__units') }} as t
    on a.year = t.year and a.city_code = t.city_code and a.product_code = 'JSGA'
