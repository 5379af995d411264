-- Every month a report is expected for, some day: from var('first_report_month') to the December
-- of the later of the build's year (China Standard Time; see macros/reporting.sql) and the
-- latest year the warehouse holds data for (reports or insurance). Which of them are due yet is
-- report_completeness's due_at against the build's time. Tagged per_night: a view with the
-- night's time in its SQL, which a night rebuilds (dbt/selectors.yml).
{{ config(tags=['per_night']) }}
with last_year as (
    select
        greatest(
            (select max(year(month)) from {{ ref('stg_reports__reports') }}),
            (select max(year) from {{ ref('int_insurance__area_year') }}),
            year(timezone('{{ var("source_time_zone") }}', {{ report_now() }})),
            year(date '{{ var("first_report_month") }}')
        ) as y
)

select cast(unnest(generate_series(
    date '{{ var("first_report_month") }}',
    make_date((select y from last_year), 12, 1),
    interval 1 month
)) as date) as month
