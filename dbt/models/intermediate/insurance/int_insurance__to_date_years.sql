-- The years of the to-date marts (insurance_progress, insurance_progress_trend and
-- insurance_progress_named) this build writes; the candidate keeps the other years' rows from
-- the last build, which fpa.build copied it from. Every year held when there is no such copy.
-- A year is written when something its rows are made of changed:
-- - the policies and claims this build recomputed counted in it, before or now;
-- - it runs to a later day now: the years from the one the stored mart's newest day was in (its
--   newest day and newest year are flagged) to the newest held;
-- - its 1 January row differs from the stored one: the target, the population and the names
--   are the same on every day of a year, so a new target, yearbook or name shows there (and a
--   year held now and not before, or the reverse);
-- - the year before it was written (its 上年同期 are that year's figures).
-- A table in the work database, rewritten each build: a handful of years.
{{ config(materialized='table', database='work') }}
-- depends_on: {{ ref('int_policies__current') }}
-- depends_on: {{ ref('int_claims__current') }}
-- depends_on: {{ ref('int_policies__changed') }}
-- depends_on: {{ ref('int_claims__changed') }}
-- depends_on: {{ ref('int_targets__areas') }}
-- depends_on: {{ ref('int_population__areas') }}
-- depends_on: {{ ref('regions_cities') }}
-- depends_on: {{ ref('regions_counties') }}
{% set stored = to_date_mart_before() %}

with held as (
    select distinct year from {{ ref('int_insurance__running') }}
)

{% if stored is not none %}
    , first_days as (
        {{ insurance_to_date('r.as_of_date = make_date(r.year, 1, 1)') }}
    ),

    stored_first_days as (
        select * from {{ stored }} where as_of_date = make_date(year, 1, 1)
    ),

    changed as (
        {{ years_counted_by_this_build() }}
        union
        select unnest(range(
            coalesce(
                (select year(max(as_of_date)) from {{ stored }}),
                (select min(year) from held)
            ),
            (select max(year) from held) + 1
        )) as year
        union
        select year from (
            (from first_days except from stored_first_days)
            union all
            (from stored_first_days except from first_days)
        )
    )

    select year from held
    where year in (select year from changed) or year - 1 in (select year from changed)
{% else %}
    select year from held
{% endif %}
