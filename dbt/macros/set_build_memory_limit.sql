{# DuckDB's memory limit for this build (dbt_project.yml's vars say why two): a build from nothing
   is one whose incremental models are computed whole — int_policies__current is not in the work
   database yet (fpa.build.from_nothing says the same to the night, which then starts the gate's
   process after the build) or --full-refresh. Decided when the run starts, so no var or
   environment of the parse changes from night to night. #}
{% macro set_build_memory_limit() %}
    {% set limits = var('build_memory_limit') %}
    {% set current = current_state_before('int_policies__current') %}
    set memory_limit = '{{ limits.night if current is not none else limits.from_nothing }}'
{% endmacro %}
