-- The insurance KPIs of KPIS.md, each written once, as what each day adds: at the three grains
-- (county, city and the province) in one GROUPING SETS pass, one row (a cell) per day, product and
-- area where a policy was written or a claim settled. The year's figures
-- (int_insurance__area_year) are the sums over its days and the to-date figures
-- (insurance_progress) the running sums, so the two cannot drift. Persons are distinct per area:
-- a person is added on the day of their first counted policy of the year in that area, which
-- makes 参保人数 additive over days.
--
-- Incremental in the work database, by cell, and its cost is the day's: every KPI is a sum over
-- policies and claims, so a night adds what the policies and claims it recomputed contribute now
-- (int_*__current, the rows this build wrote) and takes away what they contributed before
-- (int_*__changed); 参保人数 is recomputed, before and after, for the persons of those policies
-- only. The cells so changed are replaced (delete+insert by cell), and a cell left without any
-- policy or claim is deleted: the table always equals a full build (tests/test_publish.py).
--
-- Computed whole it reads the history at its finest grain: the build's larger memory limit
-- while it runs (whole_history_memory, macros/set_build_memory_limit.sql).
{{ config(
    materialized='incremental',
    database='work',
    unique_key='cell',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    meta={'whole_history_memory': true},
    pre_hook="{{ whole_history_memory('start') }}",
    post_hook=[
        "delete from {{ this }} where policies_written = 0 and claims_settled = 0",
        "{{ whole_history_memory('end') }}",
    ],
) }}

-- depends_on: {{ ref('int_policies__changed') }}
-- depends_on: {{ ref('int_claims__changed') }}
{% set this_build = "cast('" ~ run_started_at ~ "' as timestamptz)" %}
{# a night's few rows are read by several CTEs: computed once (inlined, DuckDB recomputes them
   for each reader: 4x slower). A full build's are streamed: each reader scans
   int_policies__current again, where DuckDB would otherwise write every policy of the history to
   memory once per CTE and spill it (12.5 -> 7.5 s on ten years); so the policies are grouped
   by county first and their cities joined to the groups, not to every policy. #}
{% set once = 'materialized' if is_incremental() else 'not materialized' %}

with counties as (
    select
        county_code,
        city_code
    from {{ ref('regions_counties') }}
),

-- every policy once on a full build; on a night the recomputed ones, now (+1) and before (-1)
{% set policy_columns %}
    written_year as year,
    written_on as day,
    product_code,
    county_code,
    is_in_force_or_expired as counted,
    units,
    premium_net_yuan,
    person_key
{% endset %}
policies as {{ once }} (
    select
        1 as sign,
        {{ policy_columns }}
    from {{ ref('int_policies__current') }}
    {% if is_incremental() %}
        where built_at = {{ this_build }}
        union all by name
        select
            -1 as sign,
            {{ policy_columns }}
        from {{ ref('int_policies__changed') }}
        where held
    {% endif %}
),

policy_counties as (
    select
        year,
        day,
        product_code,
        county_code,
        -- every policy written on the day (what makes the cell exist)
        sum(sign) as policies_written,
        -- 承保件数: policies written on the day whose current status is not 退保
        coalesce(sum(sign) filter (where counted), 0) as policies,
        -- 承保份数
        coalesce(sum(sign * units) filter (where counted), 0) as units,
        -- 保费收入: net premium of every policy written on the day, cancelled ones included
        sum(sign * premium_net_yuan) as premium_yuan
    from policies
    group by year, day, product_code, county_code
),

-- 参保人数 is a function of a person's policies of the year and product: on a night, every such
-- policy of the persons recomputed, now (+1) and before (-1: those this build left as they were
-- and the previous states of those it recomputed)
person_policies as {{ once }} (
    {% if is_incremental() %}
        with persons as {{ once }} (
            select distinct
                year,
                product_code,
                person_key
            from policies
        ),

        theirs as {{ once }} (
            select
                p.written_year as year,
                p.written_on as day,
                p.product_code,
                p.county_code,
                p.is_in_force_or_expired as counted,
                p.person_key,
                p.built_at = {{ this_build }} as recomputed
            from {{ ref('int_policies__current') }} as p
            semi join persons as s
                on
                    p.written_year = s.year
                    and p.product_code = s.product_code
                    and p.person_key = s.person_key
            where p.written_year in (select year from persons)  -- noqa: RF02
        )

        select 1 as sign, * exclude (recomputed) from theirs
        union all
        select -1 as sign, * exclude (recomputed) from theirs where not recomputed
        union all
    {% endif %}
    select
        sign,
        year,
        day,
        product_code,
        county_code,
        counted,
        person_key
    from policies
    {% if is_incremental() %}
        where sign = -1
    {% endif %}
),

-- 参保人数: each insured person (keyed hash) once per year, product and area, on the day of
-- their first counted policy there. Most persons (97 % of ten years') have one counted policy of
-- a year and product, whose day is their first in its county, its city and the province: they
-- are counted by day like the policies. Only the others are grouped person by person at the three
-- levels (every person grouped so was most of a full build's time here). They are found by a
-- 64-bit hash of their key: a single person whose hash collides with another's only takes the
-- exact way, which counts them the same.
{% set person_year = 'hash(sign, year, product_code, person_key)' %}
several as materialized (
    select {{ person_year }} as person_year
    from person_policies
    where counted
    group by person_year
    having count(*) > 1
),

several_policies as (
    select
        p.sign,
        p.year,
        p.day,
        p.product_code,
        c.city_code,
        p.county_code,
        p.person_key
    from (
        select * from person_policies
        where
            counted
            and {{ person_year }}
            in (select person_year from several)  -- noqa: RF02
    ) as p
    inner join counties as c using (county_code)
),

first_days as (
    select
        sign,
        year,
        product_code,
        city_code,
        county_code,
        min(day) as day
    from several_policies
    group by grouping sets (  -- noqa: PRS
        (sign, year, product_code, city_code, county_code, person_key),
        (sign, year, product_code, city_code, person_key),
        (sign, year, product_code, person_key)
    )
),

single_person_counties as (
    select
        year,
        day,
        product_code,
        county_code,
        sum(sign) as insured_persons
    from person_policies
    where
        counted
        and {{ person_year }}
        not in (select person_year from several)  -- noqa: RF02
    group by year, day, product_code, county_code
),

-- the policies' sums and the single persons' count by county, with their cities joined, and
-- summed again at the three grains in one GROUPING SETS pass
county_days as (
    select
        year,
        day,
        product_code,
        county_code,
        policies_written,
        policies,
        units,
        premium_yuan,
        0 as insured_persons
    from policy_counties
    union all by name
    select
        year,
        day,
        product_code,
        county_code,
        0 as policies_written,
        0 as policies,
        0 as units,
        0 as premium_yuan,
        insured_persons
    from single_person_counties
),

area_days as (
    select
        d.year,
        d.day,
        d.product_code,
        c.city_code,
        d.county_code,
        d.policies_written,
        d.policies,
        d.units,
        d.premium_yuan,
        d.insured_persons
    from county_days as d
    inner join counties as c using (county_code)
),

day_sums as (
    select
        year,
        day,
        product_code,
        city_code,
        county_code,
        sum(policies_written) as policies_written,
        sum(policies) as policies,
        sum(units) as units,
        sum(premium_yuan) as premium_yuan,
        sum(insured_persons) as insured_persons
    from area_days
    group by grouping sets (  -- noqa: PRS
        (year, day, product_code, city_code, county_code),
        (year, day, product_code, city_code),
        (year, day, product_code)
    )
),

person_days as (
    select
        year,
        day,
        product_code,
        city_code,
        county_code,
        sum(sign) as insured_persons
    from first_days
    group by year, day, product_code, city_code, county_code
),

-- settled claims with a payment, on a night the recomputed ones, now (+1) and before (-1)
claims as (
    select
        s.sign,
        s.settled_year as year,
        s.settled_on as day,
        s.product_code,
        c.city_code,
        s.county_code,
        s.paid_yuan
    from (
        select
            1 as sign,
            settled_year,
            settled_on,
            product_code,
            county_code,
            paid_yuan
        from {{ ref('int_claims__current') }}
        {% if is_incremental() %}
            where is_settled_paid and built_at = {{ this_build }}
            union all by name
            select
                -1 as sign,
                * exclude (claim_no, held, is_settled_paid)
            from {{ ref('int_claims__changed') }}
            where held and is_settled_paid
        {% else %}
            where is_settled_paid
        {% endif %}
    ) as s
    inner join counties as c using (county_code)
),

-- 理赔件数 / 理赔金额: settled with a payment, on 结案日期
claim_days as (
    select
        year,
        day,
        product_code,
        city_code,
        county_code,
        sum(sign) as claims_settled,
        sum(sign * paid_yuan) as claims_paid_yuan
    from claims
    group by grouping sets (  -- noqa: PRS
        (year, day, product_code, city_code, county_code),
        (year, day, product_code, city_code),
        (year, day, product_code)
    )
),

added as (
    select
        *,
        0 as claims_settled,
        0 as claims_paid_yuan
    from day_sums
    union all by name
    select
        *,
        0 as policies_written,
        0 as policies,
        0 as units,
        0 as premium_yuan,
        0 as claims_settled,
        0 as claims_paid_yuan
    from person_days
    union all by name
    select
        *,
        0 as policies_written,
        0 as policies,
        0 as units,
        0 as premium_yuan,
        0 as insured_persons
    from claim_days
),

cells as (
    select
        *,
        case
            when county_code is not null then 'county'
            when city_code is not null then 'city'
            else 'province'
        end as area_level
    from added
),

keyed as (
    select
        concat_ws('|', day, product_code, area_level, city_code, county_code) as cell,
        *
    from cells
    {% if is_incremental() %}
        union all by name
        -- the changed cells as they stood: the night's differences are added to them
        select *
        from {{ this }}
        where cell in (
            select concat_ws('|', day, product_code, area_level, city_code, county_code)
            from cells
        )
    {% endif %}
)

select
    cell,
    cast(year as bigint) as year,
    day,
    product_code,
    city_code,
    county_code,
    area_level,
    cast(sum(policies_written) as bigint) as policies_written,
    cast(sum(policies) as bigint) as policies,
    cast(sum(units) as bigint) as units,
    cast(sum(premium_yuan) as decimal(18, 2)) as premium_yuan,
    cast(sum(insured_persons) as bigint) as insured_persons,
    cast(sum(claims_settled) as bigint) as claims_settled,
    cast(sum(claims_paid_yuan) as decimal(18, 2)) as claims_paid_yuan
from keyed
group by cell, year, day, product_code, city_code, county_code, area_level
