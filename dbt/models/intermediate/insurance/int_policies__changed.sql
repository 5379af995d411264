-- The policies this build recomputes (a version in a file int_policies__current has not seen)
-- and, for those it held, their state before this build: what int_insurance__area_day takes away
-- before it adds their state after. Empty when int_policies__current is built whole. A table in
-- the work database, rewritten each build: a day's policies.
{{ config(materialized='table', database='work') }}
-- depends_on: {{ ref('stg_insurer__policies') }}
-- depends_on: {{ ref('stg_audit__load_audit') }}
{% set current = current_state_before('int_policies__current') %}

{{ state_before(
    current,
    changed_keys(ref('stg_insurer__policies'), 'policy_no', 'insurer_policy', current),
    'policy_no',
    {
        'written_year': 'bigint',
        'written_on': 'date',
        'product_code': 'varchar',
        'county_code': 'varchar',
        'is_in_force_or_expired': 'boolean',
        'units': 'integer',
        'premium_net_yuan': 'decimal(38, 2)',
        'person_key': 'uhugeint'
    }
) }}
