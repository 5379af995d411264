{# Schemas are named as configured (marts, ref, staging, intermediate): WAREHOUSE.md fixes
   `marts.<table>`, so dbt's default `<target schema>_<custom>` prefixing is turned off. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
