-- The policies this build recomputes (a version in a file int_policies__current has not seen)
-- and, for those it held, their state before this build: what int_insurance__area_day takes away
-- before it adds their state after. Empty when int_policies__current is built whole. A table in
-- the work database, rewritten each build: a day's policies.
{{ config(materialized='table', database='work') }}
-- depends_on: {{ ref('stg_insurer__policies') }}
-- depends_on: {{ ref('stg_audit__load_audit') }}
{% set current = current_state_before('int_policies__current') %}

{% if current is not none %}
    with changed as (
        {{ changed_keys(ref('stg_insurer__policies'), 'policy_no', 'insurer_policy', current) }}
    )

    select
        k.policy_no,
        c.policy_no is not null as held,
        c.written_year,
        c.written_on,
        c.product_code,
        c.county_code,
        c.is_in_force_or_expired,
        c.units,
        c.premium_net_yuan,
        c.person_key
    from changed as k
    left join {{ current }} as c on k.policy_no = c.policy_no
{% else %}
    select
        cast(null as varchar) as policy_no,
        cast(null as boolean) as held,
        cast(null as bigint) as written_year,
        cast(null as date) as written_on,
        cast(null as varchar) as product_code,
        cast(null as varchar) as county_code,
        cast(null as boolean) as is_in_force_or_expired,
        cast(null as integer) as units,
        cast(null as decimal(38, 2)) as premium_net_yuan,
        cast(null as uhugeint) as person_key
    where false
{% endif %}
