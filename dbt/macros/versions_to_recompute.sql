{# The versions an incremental "current state" model recomputes on a night: every version of the
   keys that have a version in a loaded file the model's table has not seen (no row of it is some
   key's current state yet); every version on a full build. A file whose every row was overtaken
   is taken as unseen again, which recomputes a few keys to the same values. #}
{% macro versions_to_recompute(versions, key, source) %}
    select * from {{ versions }}
    {% if is_incremental() %}
        where {{ key }} in (
            select {{ key }} from {{ versions }}
            where file_sha256 in (
                select file_sha256 from {{ ref('stg_audit__load_audit') }}
                where
                    source = '{{ source }}' and status = 'loaded' and rows_loaded > 0
                    -- distinct first: a few thousand files, not a set difference against
                    -- every row of the table
                    and file_sha256 not in (select distinct file_sha256 from {{ this }})
            )
        )
    {% endif %}
{% endmacro %}
