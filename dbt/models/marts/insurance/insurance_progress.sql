-- 截至某日: the insurance KPIs of every day of each year held, as running sums of what each day
-- added (int_insurance__area_day, where each KPI is defined, as for the yearly marts: on 31
-- December the two agree row for row), for the province, its cities and its counties. The
-- newest year runs to the newest insurer file's day. A policy counts with its current status:
-- history is restated when a later file changes it. The running sums are kept by year in the work
-- database (int_insurance__running); the target, last year's figure and the population are
-- joined here (macros/insurance_to_date.sql), so a new target or yearbook is read on the night it
-- arrives.
--
-- Incremental by year in the candidate, which starts as a copy of the last build's: a night
-- writes the years int_insurance__to_date_years names (a day's, the newest year's, the year
-- after either) instead of every day of every year held (1.4 M rows at ten years).
{{ config(
    materialized='incremental',
    unique_key='year',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where year not in (select year from {{ ref('int_insurance__running') }})",
) }}

{{ insurance_to_date(
    'r.year in (select year from ' ~ ref('int_insurance__to_date_years') ~ ')'
) }}
