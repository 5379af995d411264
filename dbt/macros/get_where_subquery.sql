{# dbt's get_where_subquery, as dbt's docs show to extend it: a data test's `where` may say
   __policy_rows_to_take_in__, the rows of the policy files int_policies__current has not taken
   in yet, i.e. this night's. A test of the staging view over every delivered version (tens of
   millions of rows at ten years) then reads a day's rows: the rows before were tested on the
   night they came, the raw tables are only appended to (a set-aside or a rebuild from the
   archive drops the work database) and a seed they are tested against changes only with the
   project (which does the same). On a build that computes whole: every row. #}
{% macro get_where_subquery(relation) -%}
    {% set where = config.get('where') or '' %}
    {% if '__policy_rows_to_take_in__' in where %}
        {% set taken_in = policies_taken_in() %}
        {# the audit table itself, in the state database (its source's `database`): a test has
           no ref of the staging view to depend on #}
        {% set audit = adapter.get_relation(
            database='state', schema='audit', identifier='load_audit'
        ) if taken_in is not none else none %}
        {% set rows = rows_to_take_in('insurer_policy', taken_in, audit) if taken_in is not none
            else 'true' %}
        {% set where = where | replace('__policy_rows_to_take_in__', '(' ~ rows ~ ')') %}
    {% endif %}
    {% if where %}
        {% do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') %}
    {% endif %}
    {% do return(relation) %}
{%- endmacro %}
