{#- The key int_regions__cities_by_county_name is looked up by: a 所属县区 as the insurer wrote
    it, spaces dropped (the reader found the county the same way). -#}
{% macro county_name_key(expr) -%}
    regexp_replace(coalesce({{ expr }}, ''), '\s+', '', 'g')
{%- endmacro %}
