{# The insurance rates of KPIS.md, written once: the yearly marts and the to-date mart call
   these on their own sums. #}

{# 赔付率: claims paid over premium, calendar basis; no premium, no ratio #}
{% macro loss_ratio(paid, premium) %}
    case when {{ premium }} != 0 then cast({{ paid }} as double) / cast({{ premium }} as double) end
{% endmacro %}

{# 完成率: units over the target; no target, no rate (never 0, never a division error) #}
{% macro completion_rate(units, target) %}
    case when {{ target }} > 0 then cast({{ units }} as double) / {{ target }} end
{% endmacro %}

{# 占常住人口比例: units over the resident population; no population, no rate #}
{% macro coverage_rate(units, population) %}
    case when {{ population }} > 0 then cast({{ units }} as double) / {{ population }} end
{% endmacro %}
