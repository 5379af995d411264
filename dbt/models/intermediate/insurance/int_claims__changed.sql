-- The claims this build recomputes (a version in a file int_claims__current has not seen) and,
-- for those it held, their state before this build (as int_policies__changed).
{{ config(materialized='table', database='work') }}
-- depends_on: {{ ref('stg_insurer__claims') }}
-- depends_on: {{ ref('stg_audit__load_audit') }}
{% set current = current_state_before('int_claims__current') %}

{% if current is not none %}
    with changed as (
        {{ changed_keys(ref('stg_insurer__claims'), 'claim_no', 'insurer_claim', current) }}
    )

    select
        k.claim_no,
        c.claim_no is not null as held,
        c.product_code,
        c.county_code,
        c.settled_on,
        c.settled_year,
        c.paid_yuan,
        c.is_settled_paid
    from changed as k
    left join {{ current }} as c on k.claim_no = c.claim_no
{% else %}
    select
        cast(null as varchar) as claim_no,
        cast(null as boolean) as held,
        cast(null as varchar) as product_code,
        cast(null as varchar) as county_code,
        cast(null as date) as settled_on,
        cast(null as bigint) as settled_year,
        cast(null as decimal(18, 2)) as paid_yuan,
        cast(null as boolean) as is_settled_paid
    where false
{% endif %}
