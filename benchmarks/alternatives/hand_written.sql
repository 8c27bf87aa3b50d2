-- examples/b2b-saas.yaml as one hand-written DuckDB query: the baseline of the benchmark.
-- Parameters (replaced by the benchmark script): {leads}, {events}, {as_of} (epoch seconds).
-- Written for this model only: its rules, limits, caps and thresholds are spelled out.
WITH
ev AS (
    SELECT lead_id, event, lower(trim(url)) AS u, epoch_us("timestamp") / 1e6 AS ts
    FROM read_parquet('{events}')
),
recent AS (  -- the 180-day window; only `unsubscribed` looks further back
    SELECT * FROM ev WHERE ts <= {as_of} AND ts > {as_of} - 180 * 86400
),
hits AS (
    SELECT lead_id, ts, 'pricing page' AS rule FROM recent
        WHERE event = 'page_view' AND u NOT IN ('', 'unknown', 'n/a', 'select', '-') AND u LIKE '%/pricing%'
    UNION ALL SELECT lead_id, ts, 'docs page' FROM recent
        WHERE event = 'page_view' AND u NOT IN ('', 'unknown', 'n/a', 'select', '-') AND u LIKE '%/docs%'
    UNION ALL SELECT lead_id, ts, 'careers page' FROM recent
        WHERE event = 'page_view' AND u NOT IN ('', 'unknown', 'n/a', 'select', '-') AND u LIKE '%/careers%'
    UNION ALL SELECT lead_id, ts, 'email open' FROM recent WHERE event = 'email_open'
    UNION ALL SELECT lead_id, ts, 'email click' FROM recent WHERE event = 'email_click'
    UNION ALL SELECT lead_id, ts, 'form submit' FROM recent WHERE event = 'form_submit'
    UNION ALL SELECT lead_id, ts, 'webinar' FROM recent WHERE event = 'webinar_attended'
    UNION ALL SELECT lead_id, ts, 'demo request' FROM recent WHERE event = 'demo_request'
    UNION ALL SELECT lead_id, ts, 'email bounced' FROM recent WHERE event = 'email_bounce'
    UNION ALL SELECT lead_id, ts, 'unsubscribed' FROM ev WHERE event = 'unsubscribe' AND ts <= {as_of}
),
ranked AS (
    SELECT *,
        row_number() OVER (PARTITION BY rule, lead_id, floor(ts / 86400) ORDER BY ts) AS nth_today,
        row_number() OVER (PARTITION BY rule, lead_id ORDER BY ts) AS nth
    FROM hits
),
kept AS (
    SELECT lead_id, rule, ts FROM ranked
    WHERE CASE rule
        WHEN 'pricing page' THEN nth_today <= 1
        WHEN 'docs page' THEN nth_today <= 2
        WHEN 'careers page' THEN nth <= 2
        WHEN 'email open' THEN nth_today <= 3
        WHEN 'email click' THEN nth_today <= 3
        WHEN 'form submit' THEN nth_today <= 1
        WHEN 'webinar' THEN nth <= 2
        WHEN 'demo request' THEN nth <= 1
        WHEN 'email bounced' THEN nth <= 1
        ELSE true END
),
engagement AS (
    SELECT lead_id,
        sum(CASE rule WHEN 'pricing page' THEN 10 * pow(2, -({as_of} - ts) / 86400 / 30) END) AS pricing,
        sum(CASE rule WHEN 'docs page' THEN 3 * pow(2, -({as_of} - ts) / 86400 / 30) END) AS docs,
        sum(CASE rule WHEN 'careers page' THEN -5 * pow(2, -({as_of} - ts) / 86400 / 30) END) AS careers,
        sum(CASE rule WHEN 'email open' THEN 1 * pow(2, -({as_of} - ts) / 86400 / 30) END) AS opens,
        sum(CASE rule WHEN 'email click' THEN 3 * pow(2, -({as_of} - ts) / 86400 / 30) END) AS clicks,
        sum(CASE rule WHEN 'form submit' THEN 8 * pow(2, -({as_of} - ts) / 86400 / 30) END) AS forms,
        sum(CASE rule WHEN 'webinar' THEN 15 * pow(2, -({as_of} - ts) / 86400 / 60) END) AS webinar,
        sum(CASE rule WHEN 'demo request' THEN 50 * pow(2, -({as_of} - ts) / 86400 / 90) END) AS demo,
        sum(CASE rule WHEN 'unsubscribed' THEN -25 END) AS unsub,
        sum(CASE rule WHEN 'email bounced' THEN -15 END) AS bounce
    FROM kept GROUP BY lead_id
),
latest AS (
    SELECT lead_id, max(ts) AS last_ts FROM ev WHERE ts <= {as_of} GROUP BY lead_id
),
leads AS (
    SELECT lead_id,
        nullif(lower(trim(industry)), '') AS industry, employees, title,
        CASE WHEN lower(trim(country)) IN ('', 'unknown', 'n/a', 'select', '-') THEN NULL
             ELSE lower(trim(country)) END AS country,
        CASE WHEN lower(trim(email_domain)) IN ('', 'unknown', 'n/a', 'select', '-') THEN NULL
             ELSE email_domain END AS email_domain
    FROM read_parquet('{leads}')
),
raw AS (
    SELECT l.lead_id,
        CASE WHEN industry IN ('software', 'fintech') THEN 15.0 ELSE 0 END AS "target industry",
        CASE WHEN industry IN ('healthcare', 'consulting', 'media', 'logistics', 'manufacturing')
             THEN 5.0 ELSE 0 END AS "adjacent industry",
        CASE WHEN employees BETWEEN 200 AND 5000 THEN 15.0 ELSE 0 END AS "mid-market",
        CASE WHEN employees > 5000 THEN 8.0 ELSE 0 END AS "enterprise",
        CASE WHEN employees < 20 THEN -10.0 ELSE 0 END AS "very small company",
        CASE WHEN lower(trim(title)) NOT IN ('', 'unknown', 'n/a', 'select', '-') AND regexp_matches(title,
             '(?i)\b(vp|vice president|head|director|chief|ceo|cfo|cto)\b') THEN 20.0 ELSE 0 END AS "senior title",
        CASE WHEN lower(trim(title)) NOT IN ('', 'unknown', 'n/a', 'select', '-')
             AND regexp_matches(title, '(?i)\bmanager\b') THEN 8.0 ELSE 0 END AS "manager title",
        CASE WHEN country IN ('us', 'gb', 'de', 'fr', 'ca', 'nl', 'au') THEN 5.0 ELSE 0 END AS "core market",
        CASE WHEN lower(trim(email_domain)) IN ('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com')
             THEN -10.0 ELSE 0 END AS "free email",
        CASE WHEN (lower(trim(title)) NOT IN ('', 'unknown', 'n/a', 'select', '-')
                   AND regexp_matches(title, '(?i)\b(student|intern)\b'))
              OR regexp_matches(email_domain, '\.edu$') THEN -30.0 ELSE 0 END AS "student",
        CASE WHEN lower(trim(email_domain)) IN ('rivalscore.io', 'leadrank.com') THEN -50.0 ELSE 0 END AS "competitor",
        CASE WHEN country IS NULL THEN -5.0 ELSE 0 END AS "no country",
        coalesce(pricing, 0) AS pricing, coalesce(docs, 0) AS docs, coalesce(careers, 0) AS careers,
        coalesce(opens, 0) AS opens, coalesce(clicks, 0) AS clicks, coalesce(forms, 0) AS forms,
        coalesce(webinar, 0) AS webinar, coalesce(demo, 0) AS demo, coalesce(unsub, 0) AS unsub,
        coalesce(bounce, 0) AS bounce,
        CASE WHEN last_ts IS NULL OR {as_of} - last_ts > 60 * 86400 THEN -10.0 ELSE 0 END AS idle60,
        CASE WHEN last_ts IS NULL OR {as_of} - last_ts > 120 * 86400 THEN -10.0 ELSE 0 END AS idle120
    FROM leads l LEFT JOIN engagement e USING (lead_id) LEFT JOIN latest t USING (lead_id)
),
sums AS (
    SELECT *,
        "target industry" + "adjacent industry" + "mid-market" + enterprise + "very small company"
        + "senior title" + "manager title" + "core market" + "free email" + student + competitor
        + "no country" AS fit,
        docs + opens + clicks + forms + webinar AS behavioural,
        pricing + demo AS intent,
        careers + unsub + bounce + idle60 + idle120 AS negative
    FROM raw
),
capped AS (
    SELECT *,
        CASE WHEN behavioural > 40 THEN 40 / behavioural ELSE 1 END AS sb,
        CASE WHEN intent > 80 THEN 80 / intent ELSE 1 END AS si,
        CASE WHEN negative < -50 THEN -50 / negative ELSE 1 END AS sn,
        least(behavioural, 40) + least(intent, 80) + greatest(negative, -50) AS engagement
    FROM sums
),
scored AS (
    SELECT *, least(greatest(fit + engagement, -50), 150) AS score,
        CASE WHEN fit + engagement <> 0 THEN least(greatest(fit + engagement, -50), 150) / (fit + engagement)
             ELSE 1 END AS st
    FROM capped
)
SELECT lead_id, score, fit AS fit_score, engagement AS engagement_score,
    CASE WHEN fit >= 40 THEN 'A' WHEN fit >= 25 THEN 'B' WHEN fit >= 10 THEN 'C' WHEN fit >= 0 THEN 'D' ELSE 'F' END AS grade,
    CASE WHEN score >= 100 THEN 'hot' WHEN score >= 60 THEN 'warm' ELSE 'cold' END AS label,
    score >= 80 AND fit >= 25 AS mql,
    1 / (1 + exp(-(0.04 * score - 4.6))) AS probability,
    '[' || coalesce(array_to_string(list_transform(list_sort(list_filter([
        {'k': -round(abs("target industry" * st) * 1e6), 'rule': 'target industry', 'v': "target industry" * st},
        {'k': -round(abs("adjacent industry" * st) * 1e6), 'rule': 'adjacent industry', 'v': "adjacent industry" * st},
        {'k': -round(abs("mid-market" * st) * 1e6), 'rule': 'mid-market', 'v': "mid-market" * st},
        {'k': -round(abs(enterprise * st) * 1e6), 'rule': 'enterprise', 'v': enterprise * st},
        {'k': -round(abs("very small company" * st) * 1e6), 'rule': 'very small company', 'v': "very small company" * st},
        {'k': -round(abs("senior title" * st) * 1e6), 'rule': 'senior title', 'v': "senior title" * st},
        {'k': -round(abs("manager title" * st) * 1e6), 'rule': 'manager title', 'v': "manager title" * st},
        {'k': -round(abs("core market" * st) * 1e6), 'rule': 'core market', 'v': "core market" * st},
        {'k': -round(abs("free email" * st) * 1e6), 'rule': 'free email', 'v': "free email" * st},
        {'k': -round(abs(student * st) * 1e6), 'rule': 'student', 'v': student * st},
        {'k': -round(abs(competitor * st) * 1e6), 'rule': 'competitor', 'v': competitor * st},
        {'k': -round(abs("no country" * st) * 1e6), 'rule': 'no country', 'v': "no country" * st},
        {'k': -round(abs(pricing * si * st) * 1e6), 'rule': 'pricing page', 'v': pricing * si * st},
        {'k': -round(abs(docs * sb * st) * 1e6), 'rule': 'docs page', 'v': docs * sb * st},
        {'k': -round(abs(careers * sn * st) * 1e6), 'rule': 'careers page', 'v': careers * sn * st},
        {'k': -round(abs(opens * sb * st) * 1e6), 'rule': 'email open', 'v': opens * sb * st},
        {'k': -round(abs(clicks * sb * st) * 1e6), 'rule': 'email click', 'v': clicks * sb * st},
        {'k': -round(abs(forms * sb * st) * 1e6), 'rule': 'form submit', 'v': forms * sb * st},
        {'k': -round(abs(webinar * sb * st) * 1e6), 'rule': 'webinar', 'v': webinar * sb * st},
        {'k': -round(abs(demo * si * st) * 1e6), 'rule': 'demo request', 'v': demo * si * st},
        {'k': -round(abs(unsub * sn * st) * 1e6), 'rule': 'unsubscribed', 'v': unsub * sn * st},
        {'k': -round(abs(bounce * sn * st) * 1e6), 'rule': 'email bounced', 'v': bounce * sn * st},
        {'k': -round(abs(idle60 * sn * st) * 1e6), 'rule': 'inactive 60 days', 'v': idle60 * sn * st},
        {'k': -round(abs(idle120 * sn * st) * 1e6), 'rule': 'inactive 120 days', 'v': idle120 * sn * st}
    ], r -> r.v <> 0)), r -> '{"rule": "' || r.rule || '", "points": ' || CAST(r.v AS VARCHAR) || '}'), ', '), '')
    || ']' AS reasons
FROM scored
ORDER BY score DESC, lead_id
