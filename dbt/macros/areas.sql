{# An area is its level (province, city, county) with its city and county codes, NULL above its
   level: two rows are of the same area when the three agree, NULL with NULL. #}
{% macro same_area(a, b) %}
    {{ a }}.area_level = {{ b }}.area_level
    and {{ a }}.city_code is not distinct from {{ b }}.city_code
    and {{ a }}.county_code is not distinct from {{ b }}.county_code
{% endmacro %}

{# 指导性任务数 as int_targets__areas (`t`) gives it: for JSGA only, to a city or the province
   (a county has none), by year. Read by the yearly and the to-date marts alike. #}
{% macro target_of(a, t) %}
    {{ a }}.year = {{ t }}.year
    and {{ a }}.product_code = 'JSGA'
    and {{ a }}.area_level != 'county'
    and {{ a }}.city_code is not distinct from {{ t }}.city_code
{% endmacro %}
