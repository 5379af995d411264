-- Renames and types only: one row per delivered version of a policy.
select
    policy_no,
    product_code,
    written_on,
    cover_start,
    cover_end,
    units,
    premium_yuan,
    person_key,
    county_code,
    status as policy_status,
    changed_on,
    file_day,
    line as file_line,
    file_sha256,
    received_at
from {{ source('insurer', 'insurer_policies') }}
