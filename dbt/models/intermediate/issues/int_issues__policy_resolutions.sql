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
{{ config(
    materialized='incremental',
    database='work',
    unique_key='issue_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
-- depends_on: {{ ref('stg_audit__load_audit') }}

with issues as (
    select
        issue_key,
        record_no,
        last_seen_at
    from {{ ref('int_issues__insurer_sightings') }}
    where source = 'insurer_policy'
)

{% if is_incremental() %}
    {# the earliest last sighting of the issues new or seen again: the versions to read arrived
       after it (read when the model is built, as macros/versions_to_recompute.sql does) #}
    {% set since = none %}
    {% if execute and flags.WHICH in ('build', 'run', 'test') %}
        {% set since = run_query(
            "select cast(min(i.last_seen_at) as varchar) from "
            ~ ref('int_issues__insurer_sightings') ~ " as i left join " ~ this ~ " as b "
            ~ "on i.issue_key = b.issue_key and i.last_seen_at = b.last_seen_at "
            ~ "where i.source = 'insurer_policy' and b.issue_key is null"
        ).columns[0].values()[0] %}
    {% endif %}

    , renewed as (
        select i.*
        from issues as i
        left join {{ this }} as b
            on i.issue_key = b.issue_key and i.last_seen_at = b.last_seen_at
        where b.issue_key is null
    ),

    versions_since as (
        select
            policy_no,
            received_at
        from {{ ref('stg_insurer__policies') }}
        where
            {% if since is none %}
                false
            {% else %}
                received_at > cast('{{ since }}' as timestamptz)
            {% endif %}
    ),

    tonight as (
        select
            policy_no,
            received_at
        from {{ ref('stg_insurer__policies') }}
        where {{ rows_to_take_in('insurer_policy', policies_taken_in()) }}
    )

    select
        i.issue_key,
        i.last_seen_at,
        min(v.received_at) as resolved_at
    from renewed as i
    left join versions_since as v
        on i.record_no = v.policy_no and i.last_seen_at < v.received_at
    group by i.issue_key, i.last_seen_at
    union all
    select
        b.issue_key,
        b.last_seen_at,
        -- least() passes over a NULL: the one found before, or the night's, or none
        least(b.resolved_at, min(t.received_at)) as resolved_at
    from {{ this }} as b
    inner join issues as i
        on b.issue_key = i.issue_key and b.last_seen_at = i.last_seen_at
    left join tonight as t
        on i.record_no = t.policy_no and b.last_seen_at < t.received_at
    group by b.issue_key, b.last_seen_at, b.resolved_at
{% else %}
    select
        i.issue_key,
        i.last_seen_at,
        min(p.received_at) as resolved_at
    from issues as i
    left join {{ ref('stg_insurer__policies') }} as p
        on i.record_no = p.policy_no and i.last_seen_at < p.received_at
    group by i.issue_key, i.last_seen_at
{% endif %}
