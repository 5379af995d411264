-- The 计生家庭保险 dashboard's county map: each county's yearly insurance row once per part of
-- its boundary (seed county_boundaries: Superset's deck.gl Polygon draws one polygon a row), the
-- part's outer ring as the chart reads it (a list of [longitude, latitude], which Superset sends
-- as JSON). The chart's metric colours the county (one row per part, so a sum is the county's
-- figure); the tooltip shows the county's figures in the newsletters' units and digits, written
-- here as text: its template can neither scale a number nor be sure to round it (Superset
-- registers two Handlebars `formatNumber` helpers, and the one loaded last, which ignores the
-- digits asked for, wins: 0.047% for 0.05%). A city's viewer sees their counties only
-- (city_code, as on the mart).
select
    i.*,
    b.part,
    b.area_km2,
    b.coordinates[1] as outline,
    printf('%.2f', i.units / 10000.0) as units_in_wan,
    printf('%.2f', i.coverage_rate * 100) as coverage_percent,
    printf('%.2f', i.loss_ratio * 100) as loss_ratio_percent
from {{ ref('insurance_area_year') }} as i
inner join {{ ref('county_boundaries') }} as b on i.county_code = b.county_code
where i.area_level = 'county'
