-- The insurance KPIs of KPIS.md, each written once, at the three grains (county, city and the
-- province, whose distinct persons cannot be summed from its cities) in one GROUPING SETS
-- pass, on the full grid of year x product x area: counts and sums are 0 where nothing
-- happened, loss_ratio NULL where the premium is 0. A table (in the working schema, dropped
-- before publication): the marts, a test and the calendar read it, and a view would aggregate
-- every policy four times.
--
-- Incremental by year, in the work database beside int_policies__current: each year's facts
-- are fingerprinted (their count and a sum of row hashes, kept on the year's rows), and a night
-- recomputes only the years whose fingerprint changed — a day's deliveries touch one or two of
-- five (the grouping sets over every year took 7.2 s of an incremental night). A year that no
-- longer has any fact in the range gets one row marked 'gone', which replaces its rows
-- (delete+insert by year) and is then deleted itself: the table always equals a full build.
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

facts as not materialized (  -- noqa: PRS
    -- read twice (the years' range, the KPIs of the years built): inlined, not written out
    select
        'policy' as fact,
        p.written_year as year,
        p.product_code,
        p.county_code,
        c.city_code,
        p.is_in_force_or_expired as counted,
        p.units,
        p.premium_net_yuan,
        p.person_key,
        cast(null as decimal(18, 2)) as paid_yuan
    from {{ ref('int_policies__current') }} as p
    inner join counties as c using (county_code)
    union all
    select
        'claim' as fact,
        cl.settled_year as year,
        cl.product_code,
        cl.county_code,
        c.city_code,
        cl.is_settled_paid as counted,
        null as units,
        null as premium_net_yuan,
        null as person_key,
        cl.paid_yuan
    from {{ ref('int_claims__current') }} as cl
    inner join counties as c using (county_code)
    where cl.is_settled_paid
),

-- what each year's KPIs are a function of: its policies (by 签单 year) and its claims (by 结案
-- year), every column the facts take from them; read from the two tables, not from `facts`,
-- which DuckDB would otherwise write out whole for a second reader
inputs as (
    select
        written_year as year,
        count(*) as n,
        sum(cast(hash(
            policy_no, product_code, county_code, units, person_key, policy_status,
            premium_net_yuan
        ) as hugeint)) as fingerprint
    from {{ ref('int_policies__current') }}
    group by written_year
    union all
    select
        settled_year as year,
        count(*) as n,
        sum(cast(hash(
            claim_no, product_code, county_code, paid_yuan, is_settled_paid
        ) as hugeint)) as fingerprint
    from {{ ref('int_claims__current') }}
    where is_settled_paid
    group by settled_year
),

years as (
    select
        y.year,
        coalesce(sum(i.n), 0) as inputs_count,
        coalesce(sum(i.fingerprint), 0) as inputs_sum
    from (
        select unnest(generate_series(min(year), max(year))) as year
        from facts
    ) as y
    left join inputs as i using (year)
    group by y.year
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

kpis as (
    select
        year,
        product_code,
        city_code,
        county_code,
        -- 承保件数: policies written in the year whose current status is not 退保
        count(*) filter (where fact = 'policy' and counted) as policies,
        -- 承保份数
        sum(units) filter (where fact = 'policy' and counted) as units,
        -- 保费收入: net premium of every policy written in the year, cancelled ones included
        sum(premium_net_yuan) filter (where fact = 'policy') as premium_yuan,
        -- 参保人数: distinct keyed hashes of the insured among the counted policies
        count(distinct person_key) filter (where fact = 'policy' and counted) as insured_persons,
        -- 理赔件数 / 理赔金额: settled with a payment, by 结案日期
        count(*) filter (where fact = 'claim') as claims_settled,
        sum(paid_yuan) filter (where fact = 'claim') as claims_paid_yuan
    from facts
    where year in (select year from to_build)  -- noqa: RF02
    group by grouping sets (  -- noqa: PRS
        (year, product_code, city_code, county_code),
        (year, product_code, city_code),
        (year, product_code)
    )
),

grid as (
    select
        y.year,
        pr.product_code,
        c.city_code,
        c.county_code
    from to_build as y
    cross join {{ ref('products') }} as pr
    cross join counties as c
    union all
    select
        y.year,
        pr.product_code,
        ci.city_code,
        null as county_code
    from to_build as y
    cross join {{ ref('products') }} as pr
    cross join {{ ref('regions_cities') }} as ci
    union all
    select
        y.year,
        pr.product_code,
        null as city_code,
        null as county_code
    from to_build as y
    cross join {{ ref('products') }} as pr
),

filled as (
    select
        g.year,
        g.product_code,
        g.city_code,
        g.county_code,
        case
            when g.county_code is not null then 'county'
            when g.city_code is not null then 'city'
            else 'province'
        end as area_level,
        cast(coalesce(k.policies, 0) as bigint) as policies,
        cast(coalesce(k.units, 0) as bigint) as units,
        cast(coalesce(k.premium_yuan, 0) as decimal(18, 2)) as premium_yuan,
        cast(coalesce(k.insured_persons, 0) as bigint) as insured_persons,
        cast(coalesce(k.claims_settled, 0) as bigint) as claims_settled,
        cast(coalesce(k.claims_paid_yuan, 0) as decimal(18, 2)) as claims_paid_yuan,
        t.inputs_count,
        t.inputs_sum
    from grid as g
    inner join to_build as t on g.year = t.year
    left join kpis as k
        on
            g.year = k.year
            and g.product_code = k.product_code
            and g.city_code is not distinct from k.city_code
            and g.county_code is not distinct from k.county_code
)

select
    *,
    -- 赔付率: calendar-year basis; no premium, no ratio
    case
        when premium_yuan != 0 then cast(claims_paid_yuan as double) / cast(premium_yuan as double)
    end as loss_ratio
from filled
{% if is_incremental() %}
    union all
    -- a year built before that is now outside the facts' range: replaced by a marker row,
    -- which the post-hook deletes
    select
        year,
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
        0 as inputs_sum,
        null as loss_ratio
    from (select distinct year from {{ this }})
    where year not in (select year from years)
{% endif %}
