-- The data issues as the 数据质量 dashboard reads them: with the city's name (the insurer's own
-- files name none: the insurer's name, as `fpa feedback` writes it), the kind, status and
-- reason as a reader says them (seeds labels and reason_codes) and the year of the month.
-- Labels only: the KPIs are the mart's.
select
    d.*,
    cast(year(d.month) as integer) as year,
    -- a city's report month, an insurer extract's day
    case
        when d.provider = 'insurer' then strftime(d.month, '%Y-%m-%d')
        else strftime(d.month, '%Y-%m')
    end as period,
    coalesce(c.city_name, p.label_zh) as city_name,
    k.label_zh as kind_label,
    s.label_zh as status_label,
    coalesce(r.label_zh, k.label_zh) as reason_label,
    -- the issue list's cells: a dash where an issue has no file, row or column (a missing
    -- report), where Superset's table would print N/A to leadership
    coalesce(d.file_name, '—') as file_label,
    coalesce(cast(d.row_number as varchar), '—') as row_label,
    coalesce(d.field, '—') as field_label
from {{ ref('data_issues') }} as d
left join {{ ref('labels') }} as k on k.field = 'issue_kind' and d.kind = k.code
left join {{ ref('labels') }} as s on s.field = 'issue_status' and d.status = s.code
left join {{ ref('regions_cities') }} as c on d.city_code = c.city_code
left join {{ ref('labels') }} as p on p.field = 'provider' and d.provider = p.code
left join {{ ref('reason_codes') }} as r on d.reason_code = r.reason_code
