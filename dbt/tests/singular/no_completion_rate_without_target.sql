-- 完成率 exists only where a target does: never for 2024 on, never for JSAX/JSTS, never 0/0.
select *
from {{ ref('insurance_city_year') }}
where
    (completion_rate is not null and target_units is null)
    or (target_units is not null and (year >= 2024 or product_code != 'JSGA'))
