{# The to-date figures (截至某日), kept by year: int_insurance__running in the work database, and
   insurance_progress with its two dashboards tables in the candidate, which fpa.build starts as
   a copy of the last build's (builds/incremental/last_build.duckdb). A night rewrites the years
   int_insurance__to_date_years names and keeps the others' rows. #}

{# The years the policies and claims this build recomputed counted in before (int_*__changed)
   and count in now (the rows of int_*__current this build wrote): a day's rows, not the
   history. A model calling this says `-- depends_on:` the four models (read only on a night). #}
{% macro years_counted_by_this_build() %}
    select written_year as year from {{ ref('int_policies__changed') }} where held
    union
    select written_year as year from {{ ref('int_policies__current') }}
    where built_at = cast('{{ run_started_at }}' as timestamptz)
    union
    select settled_year as year from {{ ref('int_claims__changed') }}
    where held and settled_year is not null
    union
    select settled_year as year from {{ ref('int_claims__current') }}
    where built_at = cast('{{ run_started_at }}' as timestamptz) and settled_year is not null
{% endmacro %}

{# insurance_progress as the candidate holds it before this build (None when there is none, or
   on a full refresh): read by int_insurance__to_date_years, which runs before it (a ref would be
   a cycle). #}
{% macro to_date_mart_before() %}
    {% if not execute or flags.FULL_REFRESH %}
        {{ return(none) }}
    {% endif %}
    {{ return(adapter.get_relation(
        database=target.database, schema='marts', identifier='insurance_progress'
    )) }}
{% endmacro %}

{# insurance_progress's rows for the running sums' rows `rows` selects (a condition on r): the
   target, last year's figure, the population and the names joined. The mart is this on the
   years int_insurance__to_date_years names; that model compares it with the stored mart on 1
   January of every year, where a new target, yearbook or name shows first. #}
{% macro insurance_to_date(rows) %}
with progress as (
    select
        r.*,
        cast(t.target_units as bigint) as target_units,
        -- 序时进度: the share of the year gone by on the day
        dayofyear(r.as_of_date)
        / cast(dayofyear(make_date(r.year, 12, 31)) as double) as time_share
    from {{ ref('int_insurance__running') }} as r
    left join {{ ref('int_targets__areas') }} as t on {{ target_of('r', 't') }}
    where {{ rows }}
)

select
    p.as_of_date,
    p.year,
    p.product_code,
    p.area_level,
    p.city_code,
    ci.city_name,
    p.county_code,
    co.county_name,
    p.policies_to_date,
    p.units_to_date,
    p.premium_to_date_yuan,
    p.insured_persons_to_date,
    p.claims_settled_to_date,
    p.claims_paid_to_date_yuan,
    {{ loss_ratio('p.claims_paid_to_date_yuan', 'p.premium_to_date_yuan') }} as loss_ratio_to_date,
    p.target_units,
    {{ completion_rate('p.units_to_date', 'p.target_units') }} as completion_rate_to_date,
    p.time_share,
    -- 超（慢）序时进度: completion ahead of (+) or behind (-) the share of the year gone by
    {{ completion_rate('p.units_to_date', 'p.target_units') }} - p.time_share as ahead_of_schedule,
    -- 上年同期: the same date of the year before (29 February takes 28 February); NULL before
    -- the first year held
    ly.units_to_date as units_same_day_last_year,
    p.units_to_date - ly.units_to_date as yoy_units_to_date,
    -- 占常住人口比例 to date: the newsletters' coverage on a day of the year (截至8月31日……占全区
    -- 常住人口的5.61%), against the population the yearly marts use
    cast(pop.resident_population as bigint) as resident_population,
    {{ coverage_rate('p.units_to_date', 'pop.resident_population') }} as coverage_rate_to_date
from progress as p
left join {{ ref('int_insurance__running') }} as ly
    on
        cast(p.as_of_date - interval 1 year as date) = ly.as_of_date
        and p.product_code = ly.product_code
        and {{ same_area('p', 'ly') }}
left join {{ ref('int_population__areas') }} as pop
    on p.year = pop.year and {{ same_area('p', 'pop') }}
left join {{ ref('regions_cities') }} as ci on p.city_code = ci.city_code
left join {{ ref('regions_counties') }} as co on p.county_code = co.county_code
{% endmacro %}
