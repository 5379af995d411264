{# A night reads or replaces a day's keys among every policy held (29 M at ten years): DuckDB
   pushes the keys into the scan as a filter on its row groups only when it may build one from
   thousands of values, and only without the compressed-string projection it puts between the
   scan and the join. A pre-hook ('start') and post-hook ('end') of the nodes that do
   (int_policies__current only when it merges: built whole it plans as it always did); set back
   after (a node run beside it meanwhile plans with them too: plans, not results). At ten years
   the lookup (int_policies__changed) 0.8 -> 0.1 s, the merge's delete (int_policies__current)
   0.4 -> 0.1 s. #}
{% macro day_keys_filter(moment) %}
    {%- if moment == 'start' -%}
        set dynamic_or_filter_threshold = 100000;
        set disabled_optimizers = 'compressed_materialization'
    {%- else -%}
        reset dynamic_or_filter_threshold;
        reset disabled_optimizers
    {%- endif -%}
{% endmacro %}
