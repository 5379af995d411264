-- The to-date mart as the 进度 dashboard's figures of one day read it: insurance_progress_trend
-- with the day as the 截至 filter lists it ('YYYY-MM-DD': a text value is what the select
-- filter lists and hands to the SQL of the charts that read it through Jinja) and the newest
-- day, which the dashboard shows until a day is chosen. Incremental by year as the mart is (its
-- SQL says why): the newest day is in the newest year, which every build writes.
{{ config(
    materialized='incremental',
    unique_key='year',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where year not in (select year from {{ ref('insurance_progress_trend') }})",
) }}

select
    t.*,
    strftime(t.as_of_date, '%Y-%m-%d') as as_of,
    t.as_of_date = (select max(n.as_of_date) from {{ ref('insurance_progress_trend') }} as n)
        as is_newest_day,
    -- the cities' table's cells of a year without targets (from 2024): what it lacks in words,
    -- where Superset's table prints N/A
    coalesce(printf('%.2f%%', t.completion_rate_to_date * 100), '不下达任务')
        as completion_label,
    coalesce(printf('%+.2f', t.ahead_of_schedule * 100), '—') as ahead_label
from {{ ref('insurance_progress_trend') }} as t
where t.year in (select y.year from {{ ref('int_insurance__to_date_years') }} as y)
