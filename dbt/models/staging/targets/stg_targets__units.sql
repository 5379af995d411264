-- One row per city and year: the target of the latest workbook received for that year.
select
    year,
    city_code,
    target_units,
    received_at
from {{ source('targets', 'targets') }}
qualify row_number() over (partition by year, city_code order by received_at desc) = 1
