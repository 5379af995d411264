{#- The reporting clock of KPIS.md "Reporting" (DHIS2's completeness and timeliness).

"Now" is the build's time, dbt's run_started_at: a report month counts as expected once its due
date is before the build that computes the marts, so the published file says what was known
when it was built, and a rebuild from the same state at a later time may expect more months
(the honest reading for a real system; the generator's truth is written for a build after the
last due date of its range). -#}

{% macro report_now() -%}
    cast('{{ run_started_at }}' as timestamptz)
{%- endmacro %}

{#- Due: 23:59:59 China Standard Time on the 10th day of the following month (December's report
is due on 10 January of the next year). -#}
{% macro report_due_at(month) -%}
    timezone(
        '{{ var("source_time_zone") }}',
        cast({{ month }} as timestamp) + interval 1 month + interval 9 day + interval 86399 second
    )
{%- endmacro %}

{#- On time: arrived by the due second, 23:59:59 — before 00:00:00 on the 11th, so an arrival
at 23:59:59.5 (file times carry fractions) is on time too. -#}
{% macro report_on_time(received_at, due_at) -%}
    ({{ received_at }} < {{ due_at }} + interval 1 second)
{%- endmacro %}
