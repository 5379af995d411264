-- The load audit with the night each file arrived on (China Standard Time) for the 数据质量
-- dashboard's files per night, and its source and status as a reader says them.
select
    a.*,
    cast(a.received_at at time zone '{{ var("source_time_zone") }}' as date) as night,
    s.label_zh as source_label,
    t.label_zh as status_label
from {{ ref('load_audit') }} as a
left join {{ ref('labels') }} as s on s.field = 'source' and a.source = s.code
left join {{ ref('labels') }} as t on t.field = 'file_status' and a.status = t.code
