-- The to-date mart as the 进度 dashboard's line reads it: the province's and the cities' days
-- (a county has no target and no line there), with the product's name and the newest year.
-- No 截至 label on purpose: the dashboard's 截至 filter targets insurance_progress_named's, and
-- Superset skips a filter on a column a table lacks, so the line keeps every day of the year;
-- its SQL reads the chosen day itself (fpa.dashboards.spec) to end the year there. Labels
-- only: the KPIs are the mart's. Incremental by year as the mart is (its SQL says why).
{{ config(
    materialized='incremental',
    unique_key='year',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where year not in (select year from {{ ref('insurance_progress') }})",
) }}

select
    p.*,
    pr.product_name,
    p.year = (select max(n.year) from {{ ref('insurance_progress') }} as n) as is_newest_year
from {{ ref('insurance_progress') }} as p
inner join {{ ref('products') }} as pr on p.product_code = pr.product_code
where
    p.area_level != 'county'
    and p.year in (select y.year from {{ ref('int_insurance__to_date_years') }} as y)
