-- The city a county's name (as the insurer's 所属县区 writes it: its current name or an alias,
-- spaces dropped by the reader) belongs to. A name two cities' counties share says no city,
-- and is left out.
with county_names as (
    select
        county_name as name,
        city_code
    from {{ ref('regions_counties') }}
    union
    select
        a.alias as name,
        c.city_code
    from {{ ref('region_aliases') }} as a
    inner join {{ ref('regions_counties') }} as c on a.region_code = c.county_code
    where a.region_level = 'county'
)

select
    name,
    min(city_code) as city_code
from county_names
group by name
having count(distinct city_code) = 1
