{# The keys a current-state model recomputes on this build (changed_keys) with their state
   before it (held: the table had the key), as int_policies__changed and int_claims__changed keep
   them; on a build that computes the model whole, no rows, typed. columns: name -> type. #}
{% macro state_before(current, keys, key, columns) %}
    {% if current is not none %}
        select
            k.{{ key }},
            c.{{ key }} is not null as held,
            {% for name in columns %}
                c.{{ name }}{{ "," if not loop.last }}
            {% endfor %}
        from ({{ keys }}) as k
        left join {{ current }} as c on k.{{ key }} = c.{{ key }}
    {% else %}
        select
            cast(null as varchar) as {{ key }},
            cast(null as boolean) as held,
            {% for name, type in columns.items() %}
                cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
            {% endfor %}
        where false
    {% endif %}
{% endmacro %}
