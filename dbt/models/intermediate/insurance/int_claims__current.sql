-- One row per claim: its latest delivered version (by file date, then line). A claim whose
-- policy has not arrived is kept: it counts by its own product, county and 结案日期.
--
-- Incremental in the work database, kept from night to night like int_policies__current (see
-- there): a night recomputes only the claims with a version in a file this table has not seen,
-- instead of a window over every claim of every year.
--
-- Computed whole it reads the history at its finest grain: the build's larger memory limit
-- while it runs (whole_history_memory, macros/set_build_memory_limit.sql).
{{ config(
    materialized='incremental',
    database='work',
    unique_key='claim_no',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    meta={'whole_history_memory': true},
    pre_hook="{{ whole_history_memory('start') }}",
    post_hook="{{ whole_history_memory('end') }}",
) }}

with versions as (
    {{ versions_to_recompute(ref('stg_insurer__claims'), 'claim_no', ref('int_claims__changed')) }}
)

select
    claim_no,
    policy_no,
    product_code,
    county_code,
    settled_on,
    year(settled_on) as settled_year,
    paid_yuan,
    claim_status,
    claim_status = '已结案' and paid_yuan > 0 and settled_on is not null as is_settled_paid,
    file_sha256,  -- the current version's file: what the next night counts as seen
    -- the build that wrote the row: its uniqueness test reads only the newest build's rows
    cast('{{ run_started_at }}' as timestamptz) as built_at
from versions
qualify row_number() over (partition by claim_no order by file_day desc, file_line desc) = 1
