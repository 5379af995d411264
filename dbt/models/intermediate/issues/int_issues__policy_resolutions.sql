-- When a later version of the policy resolved each issue of a policy row set aside
-- (int_issues__insurer_sightings): the first version of its 保单号 loaded from a file that
-- arrived after the last file with the bad row; NULL while there is none.
--
-- Incremental in the work database (kept, dropped and computed whole with int_policies__current,
-- whose list of files taken in says which versions are the night's): a build from nothing reads
-- every version once. A night reads, for an issue seen before, its own versions only (the first
-- later version is the earlier of the one found before and the first of the night's), and for an
-- issue new or seen again, the versions that arrived after its last sighting: recent ones, so
-- the scan skips the row groups of the history (1 s at ten years, where every version of every
-- policy was read). Written before int_policies__files lists the night's files.
--
-- Computed whole it reads the history at its finest grain: the build's larger memory limit
-- while it runs (whole_history_memory, macros/set_build_memory_limit.sql).
{{ config(
    materialized='incremental',
    database='work',
    unique_key='issue_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    meta={'whole_history_memory': true},
    pre_hook="{{ whole_history_memory('start') }}",
    post_hook="{{ whole_history_memory('end') }}",
) }}
-- depends_on: {{ ref('stg_audit__load_audit') }}

{# the policy rows' issues; on a night, those new or seen again since the last build #}
{% set issues %}
    select
        issue_key,
        record_no,
        last_seen_at
    from {{ ref('int_issues__insurer_sightings') }}
    where source = 'insurer_policy'
{% endset %}
{% set renewed %}
    select i.*
    from ({{ issues }}) as i
    {% if is_incremental() %}
        left join {{ this }} as b
            on i.issue_key = b.issue_key and i.last_seen_at = b.last_seen_at
        where b.issue_key is null
    {% endif %}
{% endset %}
{# on a night, the earliest last sighting among those: the versions to read arrived after it #}
{% set since = none %}
{% if is_incremental() and building() %}
    {% set since = run_query(
        "select cast(min(last_seen_at) as varchar) from (" ~ renewed ~ ")"
    ).columns[0].values()[0] %}
{% endif %}

with renewed as (
    {{ renewed }}
),

versions_since as (
    select
        policy_no,
        received_at
    from {{ ref('stg_insurer__policies') }}
    {% if is_incremental() %}
        where
            {% if since is none %}
                false
            {% else %}
                received_at > cast('{{ since }}' as timestamptz)
            {% endif %}
    {% endif %}
)

{% if is_incremental() %}
    , tonight as (
        select
            policy_no,
            received_at
        from {{ ref('stg_insurer__policies') }}
        where {{ rows_to_take_in('insurer_policy', policies_taken_in()) }}
    )
{% endif %}

select
    i.issue_key,
    i.last_seen_at,
    min(v.received_at) as resolved_at
from renewed as i
left join versions_since as v
    on i.record_no = v.policy_no and i.last_seen_at < v.received_at
group by i.issue_key, i.last_seen_at
{% if is_incremental() %}
    union all
    -- the issues seen before, as last seen then
    select
        b.issue_key,
        b.last_seen_at,
        -- least() passes over a NULL: the one found before, or the night's, or none
        least(b.resolved_at, min(t.received_at)) as resolved_at
    from {{ this }} as b
    inner join ({{ issues }}) as i
        on b.issue_key = i.issue_key and b.last_seen_at = i.last_seen_at
    left join tonight as t
        on i.record_no = t.policy_no and b.last_seen_at < t.received_at
    group by b.issue_key, b.last_seen_at, b.resolved_at
{% endif %}
