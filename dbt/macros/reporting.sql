{#- The reporting clock of KPIS.md "Reporting" (DHIS2's completeness and timeliness).

"Now" is the build's time, dbt's run_started_at: a report month counts as expected once its due
date is before the build that computes the marts, so the published file says what was known
when it was built, and a rebuild from the same state at a later time may expect more months
(the honest reading for a real system; the generator's truth is written for a build after the
last due date of its range). -#}

{% macro report_now() -%}
    cast('{{ run_started_at }}' as timestamptz)
{%- endmacro %}

{#- Due: 23:59:59 China Standard Time on the due day (the service levels' report_due_day, the
10th) of the following month: December's report is due in January of the next year. fpa.settings
report_due_at is the same rule for the Python. -#}
{% macro report_due_at(month) -%}
    timezone(
        '{{ var("source_time_zone") }}',
        cast({{ month }} as timestamp) + interval 1 month
        + interval {{ var('service_levels')['report_due_day'] - 1 }} day
        + interval 86399 second
    )
{%- endmacro %}

{#- On time: arrived by the due second, 23:59:59 — before 00:00:00 the day after, so an arrival
at 23:59:59.5 (file times carry fractions) is on time too. -#}
{% macro report_on_time(received_at, due_at) -%}
    ({{ received_at }} < {{ due_at }} + interval 1 second)
{%- endmacro %}
