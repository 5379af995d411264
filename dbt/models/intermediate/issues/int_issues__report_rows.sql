-- Rows of the cities' reports set aside (audit.quarantine), one row per problem. A problem is
-- what is wrong, not where it sits: the city, the month, the sheet (活动 or 培训), the reason and
-- the value found (the detail of the audit reason, spaces dropped), and its occurrence among
-- the report's rows with the same four (the second 海城区 of a sheet is a problem of its own).
-- A corrected report (更正) redraws the layout and renumbers the rows; the same bad value in it
-- is the same problem. Open while the report that counts for the city and month has it;
-- resolved at that report's arrival when it does not.
with codes as (
    select
        reason_code,
        description
    from {{ ref('reason_codes') }}
),

found as (
    select
        q.file_name,
        q.file_sha256,
        q.sheet,
        q.row_number,
        q.reason_code,
        q.raw_row,
        r.city_code,
        r.month,
        r.received_at,
        r.is_current,
        coalesce(s.kind, q.sheet) as sheet_kind,
        -- the audit reason is "<description>: <detail>" (fpa.sources.reports, scrubbed)
        case
            when starts_with(q.reason, c.description || ': ')
                then substr(q.reason, length(c.description) + 3)
        end as detail
    from {{ ref('stg_audit__quarantine') }} as q
    inner join {{ ref('stg_reports__reports') }} as r on q.file_sha256 = r.file_sha256
    left join {{ ref('report_sheets') }} as s
        on regexp_replace(q.sheet, '\s+', '', 'g') = s.sheet_name
    left join codes as c on q.reason_code = c.reason_code
    where q.source = 'report'
),

valued as (
    -- the value shown to the city, and the text to look for among the row's cells
    select
        *,
        case
            when reason_code = 'unknown_value'
                then regexp_extract(detail, '^(.*?) ''(.*)'' is not one of', 2)
            when reason_code = 'unreadable_value'
                then nullif(regexp_extract(detail, '''(.*)''', 1), '')
            when reason_code = 'subtotal_row'
                then regexp_extract(detail, '\((.*)\)$', 1)
            when reason_code = 'merged_cells'
                then coalesce(
                    nullif(regexp_extract(detail, '^cells (\S+) merged', 1), ''),
                    '第' || nullif(regexp_extract(detail, 'merged over rows (\S+)$', 1), '') || '行'
                )
            else trim(detail)
        end as value,
        case
            when reason_code = 'unknown_value'
                then nullif(regexp_extract(detail, '^(.*?) ''(.*)'' is not one of', 1), '')
            when reason_code = 'unreadable_value' and detail like 'no %'
                then substr(detail, 4)
            when reason_code = 'merged_cells'
                then coalesce(
                    nullif(regexp_extract(detail, 'merged across (.*)$', 1), ''),
                    nullif(regexp_extract(detail, '^(.*) merged over rows', 1), '')
                )
        end as named_field,
        regexp_replace(coalesce(detail, ''), '\s+', '', 'g') as value_key
    from found
),

located as (
    select
        *,
        -- the column: named by the reason, else the first cell of the row holding the value
        coalesce(
            named_field,
            list_filter(
                json_keys(raw_row),
                lambda k: regexp_replace(
                    raw_row ->> ('$."' || k || '"'), '\s+', '', 'g'
                ) = regexp_replace(value, '\s+', '', 'g')
            )[1]
        ) as field,
        row_number() over (
            partition by file_sha256, sheet_kind, reason_code, value_key
            order by row_number
        ) as occurrence
    from valued
),

sightings as (
    select
        *,
        concat_ws(
            '|', 'row', city_code, month, sheet_kind, reason_code, value_key, occurrence
        ) as issue_key
    from located
),

issues as (
    select
        *,
        min(received_at) over (partition by issue_key) as detected_at,
        max(received_at) over (partition by issue_key) as last_seen_at,
        bool_or(is_current) over (partition by issue_key) as in_current,
        -- the sighting shown: the report that counts, else the latest that had it
        row_number() over (
            partition by issue_key order by is_current desc, received_at desc, file_name asc
        ) as nth
    from sightings
),

current_reports as (
    select
        city_code,
        month,
        received_at
    from {{ ref('stg_reports__reports') }}
    where is_current
)

select
    i.issue_key,
    i.city_code as provider,
    i.city_code,
    'row_quarantined' as kind,
    i.month,
    i.file_name,
    i.row_number,
    i.sheet,
    i.raw_row,
    i.field,
    i.value,
    i.reason_code,
    '《' || regexp_extract(i.file_name, '[^/]*$') || '》「' || i.sheet || '」表第'
    || i.row_number || '行：' as location,
    i.detected_at,
    case when i.in_current then 'open' else 'resolved' end as status,
    case
        when not i.in_current then greatest(c.received_at, i.last_seen_at)
    end as resolved_at
from issues as i
left join current_reports as c on i.city_code = c.city_code and i.month = c.month
where i.nth = 1
