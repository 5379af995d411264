-- The running sums of int_insurance__area_day on every day of each year held, by product and area
-- (the province, its cities, its counties): what insurance_progress is made of. The newest year
-- runs to the newest insurer file's day (or a later fact's, so nothing is left out).
--
-- Incremental by year in the work database: a night recomputes the years its rows touch and the
-- years from the one the table's last day was in to the newest (they run to a later day now);
-- the other years' rows are kept. The running sums are most of the to-date mart's cost, and
-- they grow with every year held.
{{ config(
    materialized='incremental',
    database='work',
    unique_key='year',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where year not between
        (select min(year) from {{ ref('int_insurance__area_day') }})
        and (select max(year) from {{ ref('int_insurance__area_day') }})",
) }}
-- depends_on: {{ ref('int_policies__current') }}
-- depends_on: {{ ref('int_claims__current') }}
-- depends_on: {{ ref('int_policies__changed') }}
-- depends_on: {{ ref('int_claims__changed') }}

with newest_files as (
    select max(file_day) as file_day
    from (
        select max(file_day) as file_day from {{ ref('stg_insurer__policies') }}
        union all
        select max(file_day) as file_day from {{ ref('stg_insurer__claims') }}
    )
),

bounds as (
    select
        min(d.year) as first_year,
        max(d.year) as last_year,
        greatest(max(d.day), max(f.file_day)) as last_day
    from {{ ref('int_insurance__area_day') }} as d
    cross join newest_files as f
),

to_build as (
    {% if is_incremental() %}
        {{ years_counted_by_this_build() }}
        union
        select unnest(range(
            coalesce((select year(max(as_of_date)) from {{ this }}), year(last_day)),
            year(last_day) + 1
        )) as year
        from bounds
    {% else %}
        select unnest(range(first_year, last_year + 1)) as year from bounds
    {% endif %}
),

days as (
    select
        cast(d.as_of_date as date) as as_of_date,
        year(d.as_of_date) as year
    from bounds as b,
        lateral (
            select
                unnest(generate_series(
                    make_date(b.first_year, 1, 1),
                    least(make_date(b.last_year, 12, 31), b.last_day),
                    interval 1 day
                )) as as_of_date
        ) as d
    where year(d.as_of_date) in (select year from to_build)  -- noqa: RF02
),

areas as (
    select
        'county' as area_level,
        city_code,
        county_code
    from {{ ref('regions_counties') }}
    union all
    select
        'city' as area_level,
        city_code,
        null as county_code
    from {{ ref('regions_cities') }}
    union all
    select
        'province' as area_level,
        null as city_code,
        null as county_code
),

added as (
    select *
    from {{ ref('int_insurance__area_day') }}
    where year in (select year from to_build)  -- noqa: RF02
)

select
    d.as_of_date,
    cast(d.year as integer) as year,
    p.product_code,
    a.area_level,
    a.city_code,
    a.county_code,
    cast(sum(coalesce(k.policies, 0)) over to_date as bigint) as policies_to_date,
    cast(sum(coalesce(k.units, 0)) over to_date as bigint) as units_to_date,
    cast(sum(coalesce(k.premium_yuan, 0)) over to_date as decimal(18, 2)) as premium_to_date_yuan,
    cast(sum(coalesce(k.insured_persons, 0)) over to_date as bigint) as insured_persons_to_date,
    cast(sum(coalesce(k.claims_settled, 0)) over to_date as bigint) as claims_settled_to_date,
    cast(sum(coalesce(k.claims_paid_yuan, 0)) over to_date as decimal(18, 2))
        as claims_paid_to_date_yuan
from days as d
cross join {{ ref('products') }} as p
cross join areas as a
left join added as k
    on
        d.as_of_date = k.day
        and p.product_code = k.product_code
        and {{ same_area('a', 'k') }}
window to_date as (
    partition by d.year, p.product_code, a.area_level, a.city_code, a.county_code
    order by d.as_of_date
    rows between unbounded preceding and current row
)
