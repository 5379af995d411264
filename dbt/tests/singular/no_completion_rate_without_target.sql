-- 完成率 exists exactly where a target above 0 does (never 0/0), and a target only for JSGA
-- before 2024. dbt's, not the gate's: it is what the model's own code guarantees.
select *
from {{ ref('insurance_city_year') }}
where
    (completion_rate is not null) != coalesce(target_units > 0, false)
    or (target_units is not null and (year >= 2024 or product_code != 'JSGA'))
