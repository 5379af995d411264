-- Rows of the insurer's extracts set aside (audit.quarantine), one row per row: the problem is
-- the extract (policies or claims), its business day, the 保单号 or 赔案号, the reason and its
-- occurrence among those (a day's file delivered again with the same bad row is the same
-- problem). Resolved when a later version of the same 保单号 / 赔案号 loads: a loaded row of a
-- file that arrived after the last file with the bad row (resolved_at: the first such arrival).
with found as (
    select
        q.source,
        q.file_name,
        q.file_sha256,
        q.row_number,
        q.reason_code,
        q.raw_row,
        a.received_at,
        cast(try_strptime(
            regexp_extract(q.file_name, 'JS_(?:POLICY|CLAIM)_([0-9]{8})', 1), '%Y%m%d'
        ) as date) as file_day,
        coalesce(
            nullif(trim(
                case q.source
                    when 'insurer_policy' then q.raw_row ->> '保单号'
                    else q.raw_row ->> '赔案号'
                end
            ), ''),
            '#' || q.row_number
        ) as record_no
    from {{ ref('stg_audit__quarantine') }} as q
    inner join {{ ref('stg_audit__load_audit') }} as a
        on q.file_name = a.file_name and q.file_sha256 = a.file_sha256
    where q.source in ('insurer_policy', 'insurer_claim')
),

located as (
    select
        *,
        -- the column the reason is about, as the extract's header names it
        case
            when reason_code = 'bad_id_checksum' and source = 'insurer_policy' then '证件号码'
            when reason_code = 'bad_id_checksum' then '被保险人证件号码'
            when reason_code = 'premium_unit_mismatch' then '保费'
            when reason_code = 'claim_above_ceiling' then '赔付金额'
            when reason_code = 'unknown_product' then '险种代码'
            when reason_code = 'unknown_region' then '所属县区'
            -- unreadable: the first of the typed columns that does not read
            when source = 'insurer_policy' and try_strptime(raw_row ->> '投保日期', '%Y-%m-%d') is null
                then '投保日期'
            when source = 'insurer_policy' and try_cast(raw_row ->> '份数' as integer) is null
                then '份数'
            when source = 'insurer_policy' and try_cast(raw_row ->> '保费' as decimal(18, 2)) is null
                then '保费'
            when source = 'insurer_policy' then '批改日期'
            when try_cast(raw_row ->> '赔付金额' as decimal(18, 2)) is null then '赔付金额'
            else '结案日期'
        end as field,
        concat_ws('|', 'row', source, file_day, record_no, reason_code) as record_key
    from found
),

sightings as (
    select
        *,
        coalesce(raw_row ->> ('$."' || field || '"'), '（空）') as value,
        record_key || '|' || row_number() over (
            partition by file_sha256, record_key order by row_number
        ) as issue_key
    from located
),

issues as (
    select
        *,
        min(received_at) over (partition by issue_key) as detected_at,
        max(received_at) over (partition by issue_key) as last_seen_at,
        row_number() over (partition by issue_key order by received_at desc, file_name asc) as nth
    from sightings
    qualify nth = 1
),

later_versions as (
    select
        i.issue_key,
        min(p.received_at) as resolved_at
    from issues as i
    inner join {{ ref('stg_insurer__policies') }} as p
        on i.record_no = p.policy_no and i.last_seen_at < p.received_at
    where i.source = 'insurer_policy'
    group by i.issue_key
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
