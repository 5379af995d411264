-- The rows set aside with the city's name, the reason's short label and the source in Chinese
-- (seeds reason_codes and labels), for the 数据质量 dashboard.
select
    q.*,
    coalesce(c.city_name, '（未注明）') as city_name,
    r.label_zh as reason_label,
    s.label_zh as source_label
from {{ ref('quarantine') }} as q
left join {{ ref('reason_codes') }} as r on q.reason_code = r.reason_code
left join {{ ref('labels') }} as s on s.field = 'source' and q.source = s.code
left join {{ ref('regions_cities') }} as c on q.city_code = c.city_code
