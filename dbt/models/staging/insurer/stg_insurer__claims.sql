-- Renames and types only: one row per delivered version of a claim.
select
    claim_no,
    policy_no,
    product_code,
    person_key,
    event_on,
    reported_on,
    settled_on,
    cause,
    paid_yuan,
    status as claim_status,
    county_code,
    file_day,
    line as file_line,
    file_sha256,
    received_at
from {{ source('insurer', 'insurer_claims') }}
