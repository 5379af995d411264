-- The claims this build recomputes (a version in a file int_claims__current has not seen) and,
-- for those it held, their state before this build (as int_policies__changed).
{{ config(materialized='table', database='work') }}
-- depends_on: {{ ref('stg_insurer__claims') }}
-- depends_on: {{ ref('stg_audit__load_audit') }}
{% set current = current_state_before('int_claims__current') %}

{{ state_before(
    current,
    changed_keys(ref('stg_insurer__claims'), 'claim_no', 'insurer_claim', current),
    'claim_no',
    {
        'product_code': 'varchar',
        'county_code': 'varchar',
        'settled_on': 'date',
        'settled_year': 'bigint',
        'paid_yuan': 'decimal(18, 2)',
        'is_settled_paid': 'boolean'
    }
) }}
