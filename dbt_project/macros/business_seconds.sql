{#- Seconds (DOUBLE) of the interval [start_at, end_at) that fall inside business hours: var
    business_hours, local opening and closing times per ISO weekday in var reporting_timezone.
    Every local day from start_at's to end_at's opens and closes at its own UTC instants
    (reporting_timezone_to_utc), so a day when clocks change is counted as it was lived. NULL
    when either end is NULL; 0 when end_at <= start_at. Pass column names or short expressions:
    each is repeated in the compiled SQL. -#}
{% macro business_seconds(start_at, end_at) -%}
    {{ return(adapter.dispatch('business_seconds', 'wabi')(start_at, end_at)) }}
{%- endmacro %}

{#- var business_hours as a list of (iso_weekday, opens 'HH:MM:SS', closes 'HH:MM:SS'), validated.
    Keys may be numbers (dbt_project.yml) or strings (--vars given as JSON). -#}
{% macro business_hours_by_weekday() -%}
    {%- set windows = [] -%}
    {%- for weekday, hours in var('business_hours', {}).items() -%}
        {%- set weekday_number = weekday | int -%}
        {%- if weekday_number < 1 or weekday_number > 7 or hours | length != 2 -%}
            {{ exceptions.raise_compiler_error(
                "var business_hours: expected {<ISO weekday 1-7>: [opens, closes]}, got "
                ~ weekday ~ ": " ~ hours
            ) }}
        {%- endif -%}
        {%- set opens = (hours[0] ~ ':00')[:8] -%}
        {%- set closes = (hours[1] ~ ':00')[:8] -%}
        {%- if opens | length != 8 or closes | length != 8 or opens >= closes -%}
            {{ exceptions.raise_compiler_error(
                "var business_hours: weekday " ~ weekday ~ " must open before it closes, "
                ~ "as 'HH:MM' times; got " ~ hours
            ) }}
        {%- endif -%}
        {%- do windows.append((weekday_number, opens, closes)) -%}
    {%- endfor -%}
    {{ return(windows | sort) }}
{%- endmacro %}

{#- Spark: the days folded with a higher-order function (untested here: wabi runs DuckDB). -#}
{% macro default__business_seconds(start_at, end_at) -%}
    {%- set windows = business_hours_by_weekday() -%}
    case
        when {{ start_at }} is null or {{ end_at }} is null then null
        when {{ end_at }} <= {{ start_at }} then cast(0 as double)
    {%- if windows %}
        else aggregate(
            sequence(
                {{ to_reporting_date(start_at) }},
                {{ to_reporting_date(end_at) }}
            ),
            cast(0 as double),
            (seconds, business_day) -> seconds + case {{ iso_weekday('business_day') }}
            {%- for iso_weekday_number, opens, closes in windows %}
                when {{ iso_weekday_number }} then greatest(
                    0,
                    unix_timestamp(least(
                        {{ end_at }},
                        {{ reporting_timezone_to_utc(
                            "timestamp(concat(business_day, ' " ~ closes ~ "'))"
                        ) }}
                    ))
                    - unix_timestamp(greatest(
                        {{ start_at }},
                        {{ reporting_timezone_to_utc(
                            "timestamp(concat(business_day, ' " ~ opens ~ "'))"
                        ) }}
                    ))
                )
            {%- endfor %}
                else 0
            end
        )
    {%- else %}
        else cast(0 as double)
    {%- endif %}
    end
{%- endmacro %}

{#- DuckDB: a correlated subquery over the local days the interval touches, joined to their
    opening hours. -#}
{% macro duckdb__business_seconds(start_at, end_at) -%}
    {%- set windows = business_hours_by_weekday() -%}
    case
        when {{ start_at }} is null or {{ end_at }} is null then null
        when {{ end_at }} <= {{ start_at }} then cast(0 as double)
    {%- if windows %}
        else (
            select cast(coalesce(sum(greatest(
                0,
                epoch(least({{ end_at }}, business_windows.closes_at))
                - epoch(greatest({{ start_at }}, business_windows.opens_at))
            )), 0) as double)
            from (
                select
                    {{ reporting_timezone_to_utc(
                        'business_days.business_day + business_hours.opens'
                    ) }} as opens_at,
                    {{ reporting_timezone_to_utc(
                        'business_days.business_day + business_hours.closes'
                    ) }} as closes_at
                from (
                    select {{ dates_from_to(
                        to_reporting_date(start_at), to_reporting_date(end_at)
                    ) }} as business_day
                ) as business_days
                inner join (
                    values
                    {%- for iso_weekday_number, opens, closes in windows %}
                        ({{ iso_weekday_number }}, time '{{ opens }}', time '{{ closes }}')
                        {%- if not loop.last %},{% endif %}
                    {%- endfor %}
                ) as business_hours (iso_weekday, opens, closes)
                    on {{ iso_weekday('business_days.business_day') }}
                        = business_hours.iso_weekday
            ) as business_windows
        )
    {%- else %}
        else cast(0 as double)
    {%- endif %}
    end
{%- endmacro %}
