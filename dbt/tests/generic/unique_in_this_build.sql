{# The column is unique among the rows the newest build wrote (the model's built_at). A model
   merged by delete+insert on that column replaced every earlier row of the keys it wrote, so a
   duplicate can only be among those rows: on a full build that is every row (dbt's unique
   test), on a night a day's policies instead of every policy of every year. #}
{% test unique_in_this_build(model, column_name) %}
select {{ column_name }}, count(*) as n
from {{ model }}
where built_at = (select max(built_at) from {{ model }})
group by all
having count(*) > 1
{% endtest %}
