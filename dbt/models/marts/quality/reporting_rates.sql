-- KPIS.md "Reporting" (DHIS2's completeness and timeliness): month x area, the 14 cities and the
-- province (city_code NULL), for every month from var('first_report_month') to the newest month
-- due at the build's time (macros/reporting.sql): months not due yet expect nothing and are left
-- out, so every row's expected_reports is 1 (a city) or 14 (the province).
with due as (
    select
        month,
        city_code,
        city_name,
        received,
        coalesce(on_time, false) as on_time
    from {{ ref('report_completeness') }}
    where due_at < {{ report_now() }}
),

areas as (
    select
        month,
        city_code,
        city_name,
        1 as expected_reports,
        cast(received as integer) as reports_received,
        cast(on_time as integer) as reports_on_time
    from due
    union all
    select
        month,
        null as city_code,
        '广西壮族自治区' as city_name,
        count(*) as expected_reports,
        count(*) filter (where received) as reports_received,
        count(*) filter (where on_time) as reports_on_time
    from due
    group by month
)

select
    month,
    city_code,
    city_name,
    cast(expected_reports as integer) as expected_reports,
    cast(reports_received as integer) as reports_received,
    cast(reports_on_time as integer) as reports_on_time,
    cast(reports_received as double) / expected_reports as reporting_rate,
    cast(reports_on_time as double) / expected_reports as reporting_rate_on_time
from areas
