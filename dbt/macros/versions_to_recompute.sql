{# What an incremental "current state" model recomputes on a night, and what it held of it
   before: int_claims__current (a claim has few versions). int_policies__current merges instead
   (below); it shares current_state_before.

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

{# The policies' increment is a merge, not a recomputation (int_policies__current): every version
   is taken in once, so what counts is the exact list of files taken in (int_policies__files),
   not the files whose rows are some policy's current state.

   files_to_take_in: the files of `source` loaded with rows that `taken_in` (a relation, None on a
   build that computes whole) does not list. #}
{% macro files_to_take_in(source, taken_in, audit=none) %}
    select
        file_sha256,
        received_at
    from {{ audit if audit is not none else ref('stg_audit__load_audit') }}
    where
        source = '{{ source }}' and status = 'loaded' and rows_loaded > 0
        {% if taken_in is not none %}
            and file_sha256 not in (select file_sha256 from {{ taken_in }})
        {% endif %}
{% endmacro %}

{# Whether this is a run that builds or tests (not a compile, docs or parse): a model may then
   read the database while it is compiled (run_query), which compiling it alone must not need. #}
{% macro building() %}
    {{ return(execute and flags.WHICH in ('build', 'run', 'test')) }}
{% endmacro %}

{# The rows in the files files_to_take_in lists, as a condition on file_sha256 and received_at. A file's rows carry
   its arrival (received_at, the file's time as landed), and the raw tables are appended in
   order of arrival: the earliest arrival among the files, read first, lets DuckDB skip the row
   groups of the history instead of comparing every row's file checksum. Exact either way (a
   file landed with an old time is still in the list); no file to take in: no row. #}
{% macro rows_to_take_in(source, taken_in, audit=none) %}
    {% set earliest = none %}
    {% set reading = building() %}
    {% if reading %}
        {% set earliest = run_query(
            "select cast(min(received_at) as varchar) from ("
            ~ files_to_take_in(source, taken_in, audit) ~ ")"
        ).columns[0].values()[0] %}
    {% endif %}
    {% if reading and earliest is none %}
        false
    {% else %}
        file_sha256 in (select file_sha256 from ({{ files_to_take_in(source, taken_in, audit) }}))
        {% if earliest is not none %}
            and received_at >= cast('{{ earliest }}' as timestamptz)
        {% endif %}
    {% endif %}
{% endmacro %}

{% macro versions_in_files_to_take_in(versions, source, taken_in) %}
    select * from {{ versions }} where {{ rows_to_take_in(source, taken_in) }}
{% endmacro %}

{# int_policies__files as it stands before this build, when int_policies__current is merged into
   (None when it is built whole). Both are kept, dropped and computed whole together: a current
   table without its list would take every file in a second time, so that stops the build. #}
{% macro policies_taken_in() %}
    {% set current = current_state_before('int_policies__current') %}
    {% if current is none %}
        {{ return(none) }}
    {% endif %}
    {% set taken_in = current_state_before('int_policies__files') %}
    {% if taken_in is none %}
        {{ exceptions.raise_compiler_error(
            "work.intermediate.int_policies__current is there without int_policies__files: "
            ~ "delete the work database (builds/incremental/) and load again"
        ) }}
    {% endif %}
    {{ return(taken_in) }}
{% endmacro %}
