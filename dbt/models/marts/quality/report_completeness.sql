-- Which city has reported for which month: every city x month since var('first_report_month').
with accepted as (
    select
        city_code,
        month,
        min(received_at) as received_at,
        count(*) as reports
    from {{ ref('stg_reports__reports') }}
    group by city_code, month
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
    cast(coalesce(a.reports - 1, 0) as integer) as revisions
from {{ ref('int_calendar__report_months') }} as m
cross join {{ ref('regions_cities') }} as c
left join accepted as a on m.month = a.month and c.city_code = a.city_code
