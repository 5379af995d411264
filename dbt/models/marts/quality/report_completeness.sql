-- Which city has reported for which month: every city x month of int_calendar__report_months,
-- with the due date (KPIS.md "Reporting") and whether the first accepted report met it.
with accepted as (
    select
        city_code,
        month,
        min(received_at) as received_at,
        count(*) as reports
    from {{ ref('stg_reports__reports') }}
    group by city_code, month
),

months as (
    select
        month,
        {{ report_due_at('month') }} as due_at
    from {{ ref('int_calendar__report_months') }}
)

select
    m.month,
    c.city_code,
    c.city_name,
    a.city_code is not null as received,
    a.received_at,
    -- in China Standard Time: a report arriving at 01:00 on the 1st is one day after month end
    cast(datediff(
        'day',
        last_day(m.month),
        cast(timezone('{{ var("source_time_zone") }}', a.received_at) as date)
    ) as integer) as days_after_month_end,
    m.due_at,
    -- NULL while nothing has arrived and the due date is still ahead (not known yet)
    case
        when a.received_at is not null then {{ report_on_time('a.received_at', 'm.due_at') }}
        when m.due_at < {{ report_now() }} then false
    end as on_time,
    cast(coalesce(a.reports - 1, 0) as integer) as revisions
from months as m
cross join {{ ref('regions_cities') }} as c
left join accepted as a on m.month = a.month and c.city_code = a.city_code
