-- One row per row set aside. Personal data in raw_row was masked by the parser; a workbook
-- row also names its sheet (工作表), so that file, sheet and row point at one row. city_code:
-- the city whose data it is (a city's report: that city; an insurer's row: the city of its
-- 所属县区, where the name says one), so that a city's viewer sees their own rows only.
select
    q.source,
    q.file_name,
    q.row_number,
    q.reason_code,
    q.reason,
    case
        when q.sheet is null then q.raw_row
        else json_merge_patch(json_object('工作表', q.sheet), q.raw_row)
    end as raw_row,
    coalesce(r.city_code, n.city_code) as city_code
from {{ ref('stg_audit__quarantine') }} as q
left join {{ ref('stg_reports__reports') }} as r on q.file_sha256 = r.file_sha256
left join {{ ref('int_regions__cities_by_county_name') }} as n
    on
        q.source in ('insurer_policy', 'insurer_claim')
        and {{ county_name_key("q.raw_row ->> '所属县区'") }} = n.name
