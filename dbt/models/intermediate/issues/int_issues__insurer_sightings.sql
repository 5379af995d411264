-- The insurer's rows set aside (audit.quarantine), one row per problem: the extract (policies or
-- claims), its business day, the 保单号 or 赔案号, the reason and its occurrence among those (a
-- day's file delivered again with the same bad row is the same problem), when it was first and
-- last seen. int_issues__insurer_rows renders them; int_issues__policy_resolutions finds when
-- a later version of a policy resolved them. A table in the work database, rewritten each
-- build (a few thousand rows), read by both.
{{ config(materialized='table', database='work') }}

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
)

select * exclude (nth) from issues
