-- One row per county and year, from the latest workbook received for that year: a year's
-- workbook received again replaces the earlier one entirely, so a county the later one leaves
-- out has no row that year (its coverage is then null), not the earlier figure.
with workbooks as (
    select distinct
        year,
        file_sha256,
        received_at
    from {{ source('population', 'population') }}
),

latest as (
    select
        year,
        file_sha256
    from workbooks
    -- the checksum only orders two workbooks that arrived in the same second
    qualify row_number() over (
        partition by year order by received_at desc, file_sha256 desc
    ) = 1
)

select
    p.year,
    p.city_code,
    p.county_code,
    p.resident_population,
    p.received_at
from {{ source('population', 'population') }} as p
inner join latest as l on p.year = l.year and p.file_sha256 = l.file_sha256
