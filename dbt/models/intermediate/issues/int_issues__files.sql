-- Files rejected whole (audit.load_audit, status rejected), one row per file received: the
-- problem is the file itself (its name and content). The provider is the insurer for a file
-- under insurer/, the city its name names for a file under reports/ (a file naming no provider,
-- a target sheet of the province's own office, is left to the load audit). Resolved when an
-- accepted delivery for the same city and month arrives after it (a report loaded or
-- superseded since), for the insurer the same kind of extract for the same day (loaded since);
-- a file naming no month or day stays open.
with rejected as (
    select
        source,
        file_name,
        file_sha256,
        received_at,
        reason_code,
        reason,
        regexp_extract(file_name, '[^/]*$') as base_name,
        case
            when source in ('insurer_policy', 'insurer_claim') then 'insurer'
            when starts_with(file_name, 'insurer/') then 'insurer'
            when source = 'report' or starts_with(file_name, 'reports/') then 'report'
        end as provider_kind
    from {{ ref('stg_audit__load_audit') }}
    where status = 'rejected'
),

city_names as (
    select
        city_name as name,
        city_code
    from {{ ref('regions_cities') }}
    union
    select
        alias as name,
        region_code as city_code
    from {{ ref('region_aliases') }}
    where region_level = 'city'
),

named as (
    select
        r.*,
        case
            when r.provider_kind = 'insurer'
                then cast(try_strptime(
                    regexp_extract(r.base_name, '^JS_(?:POLICY|CLAIM)_([0-9]{8})', 1), '%Y%m%d'
                ) as date)
            else try_cast(
                regexp_extract(r.base_name, '([0-9]{4})年([0-9]{1,2})月', 1) || '-'
                || lpad(regexp_extract(r.base_name, '([0-9]{4})年([0-9]{1,2})月', 2), 2, '0')
                || '-01' as date
            )
        end as month,
        -- the city the name begins with (河池市计生协…), else the first city it names
        (
            select c.city_code
            from city_names as c
            where r.provider_kind = 'report' and contains(r.base_name, c.name)
            order by
                starts_with(r.base_name, c.name) desc,
                strpos(r.base_name, c.name),
                length(c.name) desc
            limit 1
        ) as city_code
    from rejected as r
    where r.provider_kind is not null
),

accepted_reports as (
    select
        city_code,
        month,
        received_at
    from {{ ref('stg_reports__reports') }}
),

accepted_extracts as (
    select
        source,
        received_at,
        cast(try_strptime(
            regexp_extract(file_name, 'JS_(?:POLICY|CLAIM)_([0-9]{8})', 1), '%Y%m%d'
        ) as date) as file_day
    from {{ ref('stg_audit__load_audit') }}
    where status = 'loaded' and source in ('insurer_policy', 'insurer_claim')
),

resolved as (
    select
        n.file_name,
        n.file_sha256,
        min(a.received_at) as resolved_at
    from named as n
    inner join accepted_reports as a
        on n.city_code = a.city_code and n.month = a.month and n.received_at < a.received_at
    where n.provider_kind = 'report'
    group by n.file_name, n.file_sha256
    union all
    select
        n.file_name,
        n.file_sha256,
        min(a.received_at) as resolved_at
    from named as n
    inner join accepted_extracts as a
        on n.source = a.source and n.month = a.file_day and n.received_at < a.received_at
    where n.provider_kind = 'insurer'
    group by n.file_name, n.file_sha256
),

detailed as (
    -- the detail of the audit reason ("<description>: <detail>"), in Chinese where it is one
    -- of a few known forms
    select
        n.*,
        case
            when starts_with(n.reason, c.description || ': ')
                then substr(n.reason, length(c.description) + 3)
        end as detail
    from named as n
    left join {{ ref('reason_codes') }} as c on n.reason_code = c.reason_code
)

select
    concat_ws('|', 'file', d.file_name, d.file_sha256) as issue_key,
    case when d.provider_kind = 'insurer' then 'insurer' else d.city_code end as provider,
    d.city_code,
    'file_rejected' as kind,
    d.month,
    d.file_name,
    d.file_sha256,
    cast(null as integer) as row_number,
    cast(null as varchar) as sheet,
    cast(null as json) as raw_row,
    cast(null as varchar) as field,
    case
        when d.reason_code = 'trailer_mismatch'
            then regexp_replace(
                d.detail,
                '^trailer says ([0-9]+) rows, (\S+) 元; the file has ([0-9]+) rows, (\S+) 元$',
                '尾行写明\1行、合计\2元，文件实有\3行、合计\4元'
            )
        when d.reason_code = 'title_filename_mismatch'
            then regexp_replace(
                regexp_replace(d.detail, '^.*?: (title says)', '\1'),
                '^title says (.*), file name says (.*)$',
                '标题为\1，文件名为\2'
            )
        when d.reason_code = 'period_out_of_range'
            then regexp_extract(d.detail, 'the report is for (\S+)', 1)
        when d.reason_code = 'set_aside'
            then regexp_extract(d.reason, '\): (.*)$', 1)
        else coalesce(d.detail, d.reason)
    end as value,
    d.reason_code,
    '《' || d.base_name || '》：' as location,
    d.received_at as detected_at,
    case when r.resolved_at is null then 'open' else 'resolved' end as status,
    r.resolved_at
from detailed as d
left join resolved as r on d.file_name = r.file_name and d.file_sha256 = r.file_sha256
where d.provider_kind = 'insurer' or d.city_code is not null
