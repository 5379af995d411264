-- The to-date mart as the 进度 dashboard's figures of one day read it: insurance_progress_trend
-- with the day as the 截至 filter shows it ('YYYY-MM-DD': a text value is what the select
-- filter lists and hands to the SQL of the charts that read it through Jinja) and the newest
-- day, which the dashboard shows until a day is chosen.
select
    t.*,
    strftime(t.as_of_date, '%Y-%m-%d') as as_of,
    t.as_of_date = max(t.as_of_date) over () as is_newest_day,
    -- the cities' table's cells of a year without targets (from 2024): what it lacks in words,
    -- where Superset's table prints N/A
    coalesce(printf('%.2f%%', t.completion_rate_to_date * 100), '不下达任务')
        as completion_label,
    coalesce(printf('%+.2f', t.ahead_of_schedule * 100), '—') as ahead_label
from {{ ref('insurance_progress_trend') }} as t
