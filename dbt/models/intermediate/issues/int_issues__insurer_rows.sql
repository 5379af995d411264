-- Rows of the insurer's extracts set aside, one row per problem (int_issues__insurer_sightings).
-- Resolved when a later version of the same 保单号 / 赔案号 loads: a loaded row of a file that
-- arrived after the last file with the bad row (resolved_at: the first such arrival); a policy's
-- is kept night by night in int_issues__policy_resolutions, a claim's found here (the claims are
-- few).
with issues as (
    select * from {{ ref('int_issues__insurer_sightings') }}
),

later_versions as (
    select
        issue_key,
        resolved_at
    from {{ ref('int_issues__policy_resolutions') }}
    where resolved_at is not null
    union all
    select
        i.issue_key,
        min(c.received_at) as resolved_at
    from issues as i
    inner join {{ ref('stg_insurer__claims') }} as c
        on i.record_no = c.claim_no and i.last_seen_at < c.received_at
    where i.source = 'insurer_claim'
    group by i.issue_key
)

select
    i.issue_key,
    'insurer' as provider,
    n.city_code,
    'row_quarantined' as kind,
    i.file_day as month,
    i.file_name,
    i.row_number,
    cast(null as varchar) as sheet,
    i.raw_row,
    i.field,
    i.value,
    i.reason_code,
    '《' || regexp_extract(i.file_name, '[^/]*$') || '》第' || i.row_number || '行（'
    || case i.source when 'insurer_policy' then '保单号' else '赔案号' end
    || ' ' || i.record_no || '）：' as location,
    i.detected_at,
    case when l.resolved_at is null then 'open' else 'resolved' end as status,
    l.resolved_at
from issues as i
left join later_versions as l on i.issue_key = l.issue_key
left join {{ ref('int_regions__cities_by_county_name') }} as n
    on {{ county_name_key("i.raw_row ->> '所属县区'") }} = n.name
