-- One row per policy: its current state (the latest version by 批改日期, then file date; the
-- first version has no 批改日期) and its net premium over every delivered version, refunds
-- included. The year, product and county a policy counts under are those of its current state.
--
-- Incremental, in the warehouse's work database (builds/incremental/, kept from night to night;
-- fpa.build starts it afresh when the dbt project changes, a build fails or the state is
-- reprocessed): a night recomputes only the policies with a version in a file this table has
-- not seen (int_policies__changed), over every version of those policies. A full
-- window over every version of every year would be most of a night; the policies of a day's
-- file are a small part of it.
{{ config(
    materialized='incremental',
    database='work',
    unique_key='policy_no',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with versions as (
    {{ versions_to_recompute(
        ref('stg_insurer__policies'), 'policy_no', ref('int_policies__changed')
    ) }}
)

-- One window pass: the net premium and the number of versions are windows over the same
-- partition as the ordering that picks the current state, so DuckDB partitions and sorts the
-- versions once (a GROUP BY joined back to the latest version sorts them twice).
select
    policy_no,
    product_code,
    county_code,
    year(written_on) as written_year,
    written_on,
    units,
    person_key,
    policy_status,
    policy_status != '退保' as is_in_force_or_expired,
    sum(premium_yuan) over per_policy as premium_net_yuan,
    count(*) over per_policy as versions,
    file_sha256,  -- the current version's file: what the next night counts as seen
    -- the build that wrote the row: its uniqueness test reads only the newest build's rows
    cast('{{ run_started_at }}' as timestamptz) as built_at
from versions
window per_policy as (partition by policy_no)
qualify row_number() over (
    partition by policy_no
    order by changed_on desc nulls last, file_day desc, file_line desc
) = 1
