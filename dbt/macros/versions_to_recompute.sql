{# What an incremental "current state" model (int_policies__current, int_claims__current)
   recomputes on a night, and what it held of it before.

   changed_keys: the keys with a version in a loaded file the current-state table has not seen
   (no row of it is some key's current state yet); none when the table does not exist or the
   build is a full refresh (every key is computed). A file whose every row was overtaken is taken
   as unseen again, which recomputes a few keys to the same values.

   current_state_before: that table as it stands before this build (None when it is built whole):
   read by the *__changed models, which run before it — a ref would be a cycle. #}
{% macro current_state_before(identifier) %}
    {% if not execute or flags.FULL_REFRESH %}
        {{ return(none) }}
    {% endif %}
    {{ return(adapter.get_relation(database='work', schema='intermediate', identifier=identifier)) }}
{% endmacro %}

{% macro changed_keys(versions, key, source, current) %}
    select distinct {{ key }} from {{ versions }}
    where file_sha256 in (
        select file_sha256 from {{ ref('stg_audit__load_audit') }}
        where
            source = '{{ source }}' and status = 'loaded' and rows_loaded > 0
            -- distinct first: a few thousand files, not a set difference against every row of
            -- the table
            and file_sha256 not in (select distinct file_sha256 from {{ current }})
    )
{% endmacro %}

{# every version of the changed keys; every version on a full build #}
{% macro versions_to_recompute(versions, key, changed) %}
    select * from {{ versions }}
    {% if is_incremental() %}
        where {{ key }} in (select {{ key }} from {{ changed }})
    {% endif %}
{% endmacro %}
