{# The rows of a model are unique on a set of columns (NULL counts as a value: a city-level
   activity has no county and is still one row of its grain). #}
{% test unique_grain(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by all
having count(*) > 1
{% endtest %}
