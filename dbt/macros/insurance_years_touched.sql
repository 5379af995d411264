{# The years whose insurance figures this build changed: the years the policies and claims it
   recomputed counted in before (int_*__changed) and count in now (the rows of int_*__current
   this build wrote: built_at is this run's start). Read by int_insurance__running, which keeps
   its running sums by year; it reads a day's rows, not the history. #}
{% macro insurance_years_touched() %}
    select written_year as year from {{ ref('int_policies__changed') }} where held
    union
    select written_year as year from {{ ref('int_policies__current') }}
    where built_at = cast('{{ run_started_at }}' as timestamptz)
    union
    select settled_year as year from {{ ref('int_claims__changed') }}
    where held and settled_year is not null
    union
    select settled_year as year from {{ ref('int_claims__current') }}
    where built_at = cast('{{ run_started_at }}' as timestamptz) and settled_year is not null
{% endmacro %}
