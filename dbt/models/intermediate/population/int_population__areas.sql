-- 常住人口 for each year of insurance held, by county, city and province: the population of the
-- year, or of the latest earlier year that has a file (population_year says which; the yearbook
-- of a year arrives the year after). A county missing from that file has none; a city or the
-- province has one only when every county of it is in the file, since a partial sum would
-- overstate its coverage.
with years as (
    select unnest(generate_series(min(year), max(year))) as year
    from {{ ref('int_insurance__area_day') }}
),

yearbooks as (
    select distinct year from {{ ref('stg_population__residents') }}
),

chosen as (
    select
        y.year,
        max(b.year) as population_year
    from years as y
    inner join yearbooks as b on y.year >= b.year
    group by y.year
),

counties as (
    select
        ch.year,
        ch.population_year,
        co.city_code,
        co.county_code,
        r.resident_population
    from chosen as ch
    inner join {{ ref('stg_population__residents') }} as r on ch.population_year = r.year
    inner join {{ ref('regions_counties') }} as co on r.county_code = co.county_code
),

region_counts as (
    select
        city_code,
        count(*) as counties
    from {{ ref('regions_counties') }}
    group by city_code
)

select
    year,
    population_year,
    'county' as area_level,
    city_code,
    county_code,
    resident_population
from counties
union all
select
    c.year,
    c.population_year,
    'city' as area_level,
    c.city_code,
    null as county_code,
    sum(c.resident_population) as resident_population
from counties as c
inner join region_counts as rc using (city_code)
group by c.year, c.population_year, c.city_code, rc.counties
having count(*) = rc.counties
union all
select
    year,
    population_year,
    'province' as area_level,
    null as city_code,
    null as county_code,
    sum(resident_population) as resident_population
from counties
group by year, population_year
having count(*) = (select count(*) from {{ ref('regions_counties') }})
