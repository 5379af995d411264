{# DuckDB's memory limits of a build (dbt_project.yml's vars say why two). Every node runs at the
   night's limit, but the models configured with whole_history_memory() while they are computed
   whole (the backfill, a changed project, --full-refresh): those read every version of the
   history at a policy's or a person's grain. Once they are built, the rest of a build from
   nothing needs what a night's does, so the night starts the gate's process beside it
   (fpa.build: dbt's child says when the last of them has finished). #}
{% macro set_build_memory_limit() %}
    set memory_limit = '{{ var('build_memory_limit').night }}'
{% endmacro %}

{# A pre-hook ('start') and post-hook ('end') of those models; their config's meta
   whole_history_memory names them to fpa.build. #}
{% macro whole_history_memory(moment) %}
    {%- if moment == 'start' and not is_incremental() -%}
        set memory_limit = '{{ var('build_memory_limit').from_nothing }}'
    {%- elif moment == 'end' -%}
        set memory_limit = '{{ var('build_memory_limit').night }}'
    {%- endif -%}
{% endmacro %}
