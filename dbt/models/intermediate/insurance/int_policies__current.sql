-- One row per policy: its current state (the latest version by 批改日期, then file date; the
-- first version has no 批改日期) and its net premium over every delivered version, refunds
-- included. The year, product and county a policy counts under are those of its current state.
-- A table (in the working schema, dropped before publication): as a view, the window over
-- every version ran again in int_insurance__area_year and in the uniqueness test, and on a
-- 5-year province history (17 M versions) the one pipeline ran out of dbt's 1 GB.
{{ config(materialized='table') }}

with versions as (
    select * from {{ ref('stg_insurer__policies') }}
),

current_state as (
    select *
    from versions
    qualify row_number() over (
        partition by policy_no
        order by changed_on desc nulls last, file_day desc, file_line desc
    ) = 1
),

net_premium as (
    select
        policy_no,
        sum(premium_yuan) as premium_net_yuan,
        count(*) as versions
    from versions
    group by policy_no
)

select
    c.policy_no,
    c.product_code,
    c.county_code,
    year(c.written_on) as written_year,
    c.written_on,
    c.units,
    c.person_key,
    c.policy_status,
    c.policy_status != '退保' as is_in_force_or_expired,
    p.premium_net_yuan,
    p.versions
from current_state as c
inner join net_premium as p using (policy_no)
