-- 数据问题清单: one row per problem a provider (the insurer, a city's association) must act on,
-- open or resolved, derived from what the state keeps of every file ever received (no state of
-- its own). issue_id is a hash of what identifies the problem (intermediate/issues/*: never a
-- file's arrival order, a run id or a row's position in a corrected report), so it is the same
-- every night and a mail can say what is new or resolved since yesterday. The Chinese reason
-- and action of each reason code come from the reason_codes seed; a report not in by its due
-- date has no reason code and its texts are written here.
with first_reports as (
    select
        city_code,
        month,
        arg_min(file_name, received_at) as file_name
    from {{ ref('stg_reports__reports') }}
    group by city_code, month
),

reports_due as (
    -- one issue per city-month whose report was not in by its due date: report_missing (open)
    -- until an accepted report arrives, then report_late, resolved at that arrival: the same
    -- issue_id, so the mail reports it resolved
    select
        c.month,
        c.city_code,
        c.city_name,
        c.received,
        c.received_at,
        c.due_at,
        f.file_name,
        c.city_name || strftime(c.month, '%Y年%-m月') || '工作月报' as report,
        cast(timezone('{{ var("source_time_zone") }}', c.due_at) as date) as due_on,
        cast(timezone('{{ var("source_time_zone") }}', c.received_at) as date) as received_on
    from {{ ref('report_completeness') }} as c
    left join first_reports as f on c.city_code = f.city_code and c.month = f.month
    where c.due_at < {{ report_now() }} and not coalesce(c.on_time, false)
),

report_issues as (
    select
        concat_ws('|', 'report', city_code, month) as issue_key,
        city_code as provider,
        city_code,
        case when received then 'report_late' else 'report_missing' end as kind,
        month,
        file_name,
        cast(null as integer) as row_number,
        cast(null as varchar) as sheet,
        cast(null as json) as raw_row,
        cast(null as varchar) as field,
        cast(null as varchar) as reason_code,
        case
            when received
                then
                    report || '于' || strftime(received_on, '%Y年%-m月%-d日')
                    || '收到，晚于报送期限（' || strftime(due_on, '%Y年%-m月%-d日') || '）'
                    || cast(datediff('day', due_on, received_on) as varchar) || '天'
            else report || '应于' || strftime(due_on, '%Y年%-m月%-d日') || '前报送，至今未收到'
        end as reason,
        case
            when received
                then '已收到，无需补报；今后请在次月{{ var("service_levels")["report_due_day"] }}日前报送月报。'
            else
                '请尽快报送' || report || '（文件名如“' || city_name || '计生协'
                || strftime(month, '%Y年%-m月') || '工作月报.xlsx”）。'
        end as action,
        due_at as detected_at,
        case when received then 'resolved' else 'open' end as status,
        case when received then received_at end as resolved_at
    from reports_due
),

delivery_issues as (
    select * from {{ ref('int_issues__files') }}
    union all by name
    select * from {{ ref('int_issues__report_rows') }}
    union all by name
    select * from {{ ref('int_issues__insurer_rows') }}
),

rendered as (
    select
        d.issue_key,
        d.provider,
        d.city_code,
        d.kind,
        d.month,
        d.file_name,
        d.row_number,
        d.sheet,
        d.raw_row,
        d.field,
        d.reason_code,
        d.location || replace(
            replace(c.reason_zh, '{field}', coalesce(d.field, '相关列')),
            '{value}',
            coalesce(nullif(d.value, ''), '（空）')
        ) as reason,
        c.action_zh as action,
        d.detected_at,
        d.status,
        d.resolved_at
    from delivery_issues as d
    inner join {{ ref('reason_codes') }} as c on d.reason_code = c.reason_code
    union all by name
    select * from report_issues
)

select
    md5(issue_key) as issue_id,
    provider,
    city_code,
    kind,
    cast(month as date) as month,
    file_name,
    cast(row_number as integer) as row_number,
    sheet,
    raw_row,
    field,
    reason_code,
    reason,
    action,
    detected_at,
    status,
    resolved_at
from rendered
