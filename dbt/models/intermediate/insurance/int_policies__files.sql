-- The insurer's policy files int_policies__current has taken in, one row per file: their
-- versions are in its sums once, so a night takes in the versions of the files not listed here
-- and no others. Incremental in the work database beside it (kept, dropped and computed whole
-- with it); written after it and int_issues__policy_resolutions, from the same list they read.
{{ config(
    materialized='incremental',
    database='work',
    unique_key='file_sha256',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
-- depends_on: {{ ref('int_policies__current') }}
-- depends_on: {{ ref('int_issues__policy_resolutions') }}

{{ files_to_take_in('insurer_policy', this if is_incremental() else none) }}
