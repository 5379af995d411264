-- The policies this build changes (a version in a file int_policies__current has not taken in)
-- and, for those it held, their whole state before this build: what int_policies__current
-- merges the new versions into, and what int_insurance__area_day takes away before it adds
-- their state after. Empty when int_policies__current is built whole. A table in the work
-- database, rewritten each build: a day's policies.
-- The lookup reads a day's keys among every policy held (macros/day_keys_filter.sql).
{{ config(
    materialized='table',
    database='work',
    pre_hook="{{ day_keys_filter('start') }}",
    post_hook="{{ day_keys_filter('end') }}",
) }}
-- depends_on: {{ ref('stg_insurer__policies') }}
-- depends_on: {{ ref('stg_audit__load_audit') }}
{% set current = current_state_before('int_policies__current') %}
{% set taken_in = policies_taken_in() %}

{{ state_before(
    current,
    "select distinct policy_no from ("
    ~ versions_in_files_to_take_in(ref('stg_insurer__policies'), 'insurer_policy', taken_in)
    ~ ")",
    'policy_no',
    {
        'written_year': 'bigint',
        'written_on': 'date',
        'product_code': 'varchar',
        'county_code': 'varchar',
        'is_in_force_or_expired': 'boolean',
        'units': 'integer',
        'premium_net_yuan': 'decimal(38, 2)',
        'person_key': 'uhugeint',
        'policy_status': 'varchar',
        'versions': 'bigint',
        'changed_on': 'date',
        'file_day': 'date',
        'file_line': 'integer',
        'received_at': 'timestamptz'
    }
) }}
