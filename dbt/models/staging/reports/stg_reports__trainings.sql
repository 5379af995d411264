-- One row per training course of an accepted workbook.
select
    file_sha256,
    sheet,
    row_number,
    city_code,
    month,
    county_code,
    name as course_name,
    organiser,
    starts_on,
    ends_on,
    audience,
    trainees,
    trainees_approx,
    mode,
    hours
from {{ source('reports', 'report_trainings') }}
