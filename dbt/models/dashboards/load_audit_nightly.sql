-- The load audit with the night each file arrived on (China Standard Time) for the 数据质量
-- dashboard's files per night.
select
    *,
    cast(received_at at time zone '{{ var("source_time_zone") }}' as date) as night
from {{ ref('load_audit') }}
