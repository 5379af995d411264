-- A resolved data issue says when (the arrival that resolved it, not before the problem was
-- found); an open one has no resolution time.
select
    issue_id,
    kind,
    status,
    detected_at,
    resolved_at
from {{ ref('data_issues') }}
where
    (status = 'resolved') != (resolved_at is not null)
    or resolved_at < detected_at
