-- One row per policy: its current state (the latest version by 批改日期, then file date; the
-- first version has no 批改日期) and its net premium over every delivered version, refunds
-- included. The year, product and county a policy counts under are those of its current state.
-- A table (in the working schema, dropped before publication): as a view, the window over
-- every version ran again in int_insurance__area_year and in the uniqueness test, and on a
-- 5-year province history (17 M versions) the one pipeline ran out of dbt's 1 GB.
{{ config(materialized='table') }}

-- One window pass: the net premium and the number of versions are windows over the same
-- partition as the ordering that picks the current state, so DuckDB partitions and sorts the
-- versions once (a GROUP BY joined back to the latest version took 25 % longer).
with versions as (
    select * from {{ ref('stg_insurer__policies') }}
)

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
    count(*) over per_policy as versions
from versions
window per_policy as (partition by policy_no)
qualify row_number() over (
    partition by policy_no
    order by changed_on desc nulls last, file_day desc, file_line desc
) = 1
