-- The insurance KPIs of KPIS.md, each written once, as what each day adds: at the three grains
-- (county, city and the province) in one GROUPING SETS pass, only the days where something
-- happened. The year's figures (int_insurance__area_year) are the sums over its days and the
-- to-date figures (insurance_progress) the running sums, so the two cannot drift. Persons are
-- distinct per area: a person is added on the day of their first counted policy of the year in
-- that area, which makes 参保人数 additive over days.
--
-- Incremental by year, in the work database beside int_policies__current: each year's facts
-- are fingerprinted (their count and a sum of row hashes, kept on the year's rows), and a night
-- recomputes only the years whose fingerprint changed — a day's deliveries touch one or two
-- years of the history. A year that no longer has any fact gets one row marked 'gone', which
-- replaces its rows (delete+insert by year) and is then deleted itself: the table always equals
-- a full build.
{{ config(
    materialized='incremental',
    database='work',
    unique_key='year',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where area_level = 'gone'",
) }}

with counties as (
    select
        county_code,
        city_code
    from {{ ref('regions_counties') }}
),

-- what each year's KPIs are a function of: its policies (by 投保 year) and its claims (by 结案
-- year), every column the KPIs take from them
inputs as (
    select
        written_year as year,
        count(*) as n,
        sum(cast(hash(
            policy_no, product_code, county_code, units, person_key, policy_status,
            premium_net_yuan, written_on
        ) as hugeint)) as fingerprint
    from {{ ref('int_policies__current') }}
    group by written_year
    union all
    select
        settled_year as year,
        count(*) as n,
        sum(cast(hash(
            claim_no, product_code, county_code, paid_yuan, is_settled_paid, settled_on
        ) as hugeint)) as fingerprint
    from {{ ref('int_claims__current') }}
    where is_settled_paid
    group by settled_year
),

years as (
    select
        year,
        sum(n) as inputs_count,
        sum(fingerprint) as inputs_sum
    from inputs
    group by year
),

to_build as (
    select * from years
    {% if is_incremental() %}
        except
        select distinct
            year,
            inputs_count,
            inputs_sum
        from {{ this }}
    {% endif %}
),

policies as (
    select
        p.written_year as year,
        p.written_on as day,
        p.product_code,
        c.city_code,
        p.county_code,
        p.is_in_force_or_expired as counted,
        p.units,
        p.premium_net_yuan,
        p.person_key
    from {{ ref('int_policies__current') }} as p
    inner join counties as c using (county_code)
    where p.written_year in (select year from to_build)  -- noqa: RF02
),

policy_days as (
    select
        year,
        day,
        product_code,
        city_code,
        county_code,
        -- 承保件数: policies written on the day whose current status is not 退保
        count(*) filter (where counted) as policies,
        -- 承保份数
        sum(units) filter (where counted) as units,
        -- 保费收入: net premium of every policy written on the day, cancelled ones included
        sum(premium_net_yuan) as premium_yuan
    from policies
    group by grouping sets (  -- noqa: PRS
        (year, day, product_code, city_code, county_code),
        (year, day, product_code, city_code),
        (year, day, product_code)
    )
),

-- 参保人数: each insured person (keyed hash) once per year, product and area, on the day of
-- their first counted policy there
first_days as (
    select
        year,
        product_code,
        city_code,
        county_code,
        min(day) as day
    from policies
    where counted
    group by grouping sets (  -- noqa: PRS
        (year, product_code, city_code, county_code, person_key),
        (year, product_code, city_code, person_key),
        (year, product_code, person_key)
    )
),

person_days as (
    select
        year,
        day,
        product_code,
        city_code,
        county_code,
        count(*) as insured_persons
    from first_days
    group by all
),

claims as (
    select
        cl.settled_year as year,
        cl.settled_on as day,
        cl.product_code,
        c.city_code,
        cl.county_code,
        cl.paid_yuan
    from {{ ref('int_claims__current') }} as cl
    inner join counties as c using (county_code)
    where cl.is_settled_paid and cl.settled_year in (select year from to_build)  -- noqa: RF02
),

-- 理赔件数 / 理赔金额: settled with a payment, on 结案日期
claim_days as (
    select
        year,
        day,
        product_code,
        city_code,
        county_code,
        count(*) as claims_settled,
        sum(paid_yuan) as claims_paid_yuan
    from claims
    group by grouping sets (  -- noqa: PRS
        (year, day, product_code, city_code, county_code),
        (year, day, product_code, city_code),
        (year, day, product_code)
    )
),

days as (
    select
        year,
        day,
        product_code,
        city_code,
        county_code,
        cast(sum(policies) as bigint) as policies,
        cast(coalesce(sum(units), 0) as bigint) as units,
        cast(sum(premium_yuan) as decimal(18, 2)) as premium_yuan,
        cast(sum(insured_persons) as bigint) as insured_persons,
        cast(sum(claims_settled) as bigint) as claims_settled,
        cast(sum(claims_paid_yuan) as decimal(18, 2)) as claims_paid_yuan
    from (
        select
            *,
            0 as insured_persons,
            0 as claims_settled,
            0 as claims_paid_yuan
        from policy_days
        union all by name
        select
            *,
            0 as policies,
            0 as units,
            0 as premium_yuan,
            0 as claims_settled,
            0 as claims_paid_yuan
        from person_days
        union all by name
        select
            *,
            0 as policies,
            0 as units,
            0 as premium_yuan,
            0 as insured_persons
        from claim_days
    ) as increments
    group by all
)

select
    d.year,
    d.day,
    d.product_code,
    d.city_code,
    d.county_code,
    case
        when d.county_code is not null then 'county'
        when d.city_code is not null then 'city'
        else 'province'
    end as area_level,
    d.policies,
    d.units,
    d.premium_yuan,
    d.insured_persons,
    d.claims_settled,
    d.claims_paid_yuan,
    t.inputs_count,
    t.inputs_sum
from days as d
inner join to_build as t on d.year = t.year
{% if is_incremental() %}
    union all
    -- a year built before that no longer has any fact: replaced by a marker row, which the
    -- post-hook deletes
    select
        year,
        null as day,
        null as product_code,
        null as city_code,
        null as county_code,
        'gone' as area_level,
        0 as policies,
        0 as units,
        0 as premium_yuan,
        0 as insured_persons,
        0 as claims_settled,
        0 as claims_paid_yuan,
        0 as inputs_count,
        0 as inputs_sum
    from (select distinct year from {{ this }})
    where year not in (select year from years)
{% endif %}
