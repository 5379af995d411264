-- One row per activity row of an accepted workbook.
select
    file_sha256,
    sheet,
    row_number,
    city_code,
    month,
    county_code,
    township,
    starts_on,
    ends_on,
    name as activity_name,
    activity_type,
    project,
    organiser,
    participants,
    participants_approx,
    service_visits,
    materials,
    funds_yuan
from {{ source('reports', 'report_activities') }}
