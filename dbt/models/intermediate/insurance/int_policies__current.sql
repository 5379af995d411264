-- One row per policy: its current state (the latest version by 批改日期, then file date and
-- line, then arrival; the first version has no 批改日期) and its net premium over every
-- delivered version, refunds included. The year, product and county a policy counts under are
-- those of its current state.
--
-- Incremental, in the warehouse's work database (builds/incremental/, kept from night to night;
-- fpa.build starts it afresh when the dbt project changes, a build fails or the state is
-- reprocessed). The current state is the greatest version in one order and the net premium and
-- the count of versions are sums, so a night merges the versions of the files not yet taken in
-- (int_policies__files) into the state each of their policies had (int_policies__changed): its
-- cost is the day's, however many years of versions the policies have.
--
-- Computed whole it reads the history at its finest grain: the build's larger memory limit
-- while it runs (whole_history_memory, macros/set_build_memory_limit.sql). A night's merge
-- replaces a day's policies among every policy held (macros/day_keys_filter.sql).
{{ config(
    materialized='incremental',
    database='work',
    unique_key='policy_no',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    meta={'whole_history_memory': true},
    pre_hook=[
        "{{ whole_history_memory('start') }}",
        "{{ day_keys_filter('start') if is_incremental() }}",
    ],
    post_hook=[
        "{{ whole_history_memory('end') }}",
        "{{ day_keys_filter('end') if is_incremental() }}",
    ],
) }}
-- depends_on: {{ ref('stg_audit__load_audit') }}
-- depends_on: {{ ref('int_policies__changed') }}

{# a version's columns, and a held policy's state with the same meaning: the version it is #}
{% set state = (
    'policy_no, product_code, county_code, written_on, units, person_key, policy_status, '
    ~ 'changed_on, file_day, file_line, received_at'
) %}

-- not materialized: a full build reads it three times (the policies with several versions, the
-- others, the window), and DuckDB would otherwise write every version of the history to memory
-- once to read it back (spilling past the memory limit from five years on: this model's build
-- on five years 17.4-18.1 s with it, 12.4-12.8 s without, side by side; reading the raw table
-- again costs little)
with versions as not materialized (
    -- every version on a full build; on a night the new ones ...
    select
        {{ state }},
        premium_yuan as premium_net_yuan,
        1 as versions
    from (
        {% if is_incremental() %}
            {{ versions_in_files_to_take_in(
                ref('stg_insurer__policies'), 'insurer_policy', policies_taken_in()
            ) }}
        {% else %}
            select * from {{ ref('stg_insurer__policies') }}
        {% endif %}
    )
    {% if is_incremental() %}
        -- ... and, for a policy held, its state so far: its current version with the sums
        union all by name
        select
            {{ state }},
            premium_net_yuan,
            versions
        from {{ ref('int_policies__changed') }}
        where held
    {% endif %}
),

{# what a row holds besides the two sums, from a version or a held state #}
{% set current_columns %}
        policy_no,
        product_code,
        county_code,
        year(written_on) as written_year,
        written_on,
        units,
        person_key,
        policy_status,
        policy_status != '退保' as is_in_force_or_expired,
{% endset %}
{% set place_and_build %}
        -- the current version's place in the order: what the next night's versions are merged by
        changed_on,
        file_day,
        file_line,
        received_at,
        -- the build that wrote the row: its uniqueness test reads only the newest build's rows
        cast('{{ run_started_at }}' as timestamptz) as built_at
{% endset %}

{% if not is_incremental() %}
    -- a build from nothing: most policies have one version (97 % of ten years'), which is their
    -- current state as it is; only the others go through the window below (the window over
    -- every version was most of a backfill's build of this model)
    several_versions as (
        select policy_no from versions
        group by policy_no
        having count(*) > 1
    ),

    one_version as (
        select
            {{ current_columns }}
            premium_net_yuan,
            cast(versions as bigint) as versions,
            {{ place_and_build }}
        from versions
        where not exists (
            select 1 from several_versions as s
            where s.policy_no = versions.policy_no
        )
    ),
{% endif %}

-- One window pass: the net premium and the number of versions are windows over the same
-- partition as the ordering that picks the current state, so DuckDB partitions and sorts the
-- versions once (a GROUP BY joined back to the latest version sorts them twice).
current_state as (
    select
        {{ current_columns }}
        sum(premium_net_yuan) over per_policy as premium_net_yuan,
        cast(sum(versions) over per_policy as bigint) as versions,
        {{ place_and_build }}
    from versions
    {% if not is_incremental() %}
        where exists (
            select 1 from several_versions as s
            where s.policy_no = versions.policy_no
        )
    {% endif %}
    window per_policy as (partition by policy_no)
    qualify row_number() over (
        partition by policy_no
        order by changed_on desc nulls last, file_day desc, file_line desc, received_at desc
    ) = 1
)

{% if is_incremental() %}
    select * from current_state
{% else %}
    select * from one_version
    union all by name
    select * from current_state
    -- stored in policy_no order when built whole (a night appends its day's policies after):
    -- a policy number starts with its product and year, so a night's lookup of its day's
    -- policies (int_policies__changed) reads the row groups of the years it touches, not ten
    -- years of policies (1.4 -> 0.3 s on a new year's night at ten years; 6 s more on a backfill)
    order by policy_no
{% endif %}
