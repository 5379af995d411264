{# The column is unique among the rows this build wrote (the model's built_at is the run's start).
   A model merged by delete+insert on that column replaced every earlier row of the keys it
   wrote, so a duplicate can only be among those rows: on a full build that is every row (dbt's
   unique test), on a night a day's policies instead of every policy of every year — and none on
   a night that brought no policy (the newest earlier build's rows would be every policy). #}
{% test unique_in_this_build(model, column_name) %}
select {{ column_name }}, count(*) as n
from {{ model }}
where built_at = cast('{{ run_started_at }}' as timestamptz)
group by all
having count(*) > 1
{% endtest %}
