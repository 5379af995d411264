-- One row per file received (a name with a content), with what became of it. city_code: the
-- city a report is from (its title's, once read; for a report rejected whole, the city its
-- name names, as the data issues say), so that a city's viewer sees their own files only;
-- NULL for the insurer's extracts, the province's targets and files of no provider.
select
    a.source,
    a.file_name,
    a.file_sha256,
    a.received_at,
    a.status,
    a.reason,
    a.rows_received,
    a.rows_loaded,
    a.rows_quarantined,
    coalesce(r.city_code, f.city_code) as city_code
from {{ ref('stg_audit__load_audit') }} as a
left join {{ ref('stg_reports__reports') }} as r on a.file_sha256 = r.file_sha256
left join {{ ref('int_issues__files') }} as f
    on
        a.file_name = f.file_name
        and a.file_sha256 = f.file_sha256
        and f.provider != 'insurer'
