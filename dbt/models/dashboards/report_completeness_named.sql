-- The report completeness matrix with the year, a month label, the newest-year flag and the
-- month's status as a reader says it (按时报送, 迟报, 未报送, 未到报送期限).
with newest as (
    select max(year(month)) as newest_year from {{ ref('report_completeness') }}
),

statused as (
    select
        *,
        case
            when on_time then 'on_time'
            when received then 'late'
            when due_at < {{ report_now() }} then 'missing'
            else 'not_due'
        end as report_status
    from {{ ref('report_completeness') }}
)

select
    r.*,
    cast(year(r.month) as integer) as year,
    strftime(r.month, '%Y-%m') as month_label,
    year(r.month) = n.newest_year as is_newest_year,
    l.label_zh as status_label
from statused as r
cross join newest as n
left join {{ ref('labels') }} as l on l.field = 'report_status' and r.report_status = l.code
