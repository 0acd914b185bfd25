-- Analysts' views, created in every published warehouse. Descriptions: VIEW_COMMENTS in pipeline/views.py.

CREATE VIEW v_concept_matrix AS
SELECT s.drug, f.concept_id, f.concept_label, f.source_id, s.kind AS source_kind, s.authority,
       'condition' AS fact_type,
       string_agg(DISTINCT f.stance, ', ') AS stance_or_category,
       string_agg(DISTINCT f.mention, ' | ') AS mentions,
       string_agg(DISTINCT f.quote, ' | ') AS quotes,
       count(*) AS n_mentions
FROM conditions f JOIN sources s USING (source_id)
WHERE f.concept_id <> '' AND NOT f.negated
GROUP BY ALL
UNION ALL
SELECT s.drug, f.concept_id, f.concept_label, f.source_id, s.kind, s.authority, 'adverse_effect',
       string_agg(DISTINCT f.category, ', '), string_agg(DISTINCT f.mention, ' | '), string_agg(DISTINCT f.quote, ' | '), count(*)
FROM adverse_effects f JOIN sources s USING (source_id)
WHERE f.concept_id <> '' AND NOT f.negated
GROUP BY ALL
UNION ALL
SELECT s.drug, f.concept_id, f.concept_label, f.source_id, s.kind, s.authority, 'interaction',
       string_agg(DISTINCT f.direction, ', '), string_agg(DISTINCT f.mention, ' | '), string_agg(DISTINCT f.quote, ' | '), count(*)
FROM interactions f JOIN sources s USING (source_id)
WHERE f.concept_id <> ''
GROUP BY ALL;

CREATE VIEW v_dose_comparison AS
SELECT s.drug, d.route, d.population, d.phase, d.indication, d.source_id, s.kind AS source_kind, s.authority,
       d.daily_min_mg, d.daily_max_mg, d.amount_min, d.amount_max, d.unit, d.times_per_day, d.qualifier, d.quote
FROM dosing d JOIN sources s USING (source_id)
ORDER BY s.drug, d.route, d.population, d.phase, s.authority, d.source_id;

-- The run that published the warehouse: the last row of runs (the incremental run reads its
-- previous run here too).
CREATE VIEW v_latest_run AS
SELECT * FROM runs ORDER BY rowid DESC LIMIT 1;

-- The history tables store no last sighting for a row the latest run produced (present): these
-- views fill it in with the latest run.
CREATE VIEW v_fact_history AS
SELECT h.* REPLACE (coalesce(h.last_seen_run, r.run_id) AS last_seen_run, coalesce(h.last_seen_at, r.ended_at) AS last_seen_at)
FROM fact_history h LEFT JOIN v_latest_run r ON h.present;

CREATE VIEW v_discrepancy_history AS
SELECT h.* REPLACE (coalesce(h.last_seen_run, r.run_id) AS last_seen_run, coalesce(h.last_seen_at, r.ended_at) AS last_seen_at)
FROM discrepancy_history h LEFT JOIN v_latest_run r ON h.present;

CREATE VIEW v_open_discrepancies AS
SELECT d.*
FROM discrepancies d
WHERE coalesce(d.status, 'open') IN ('open', 'needs expert', 'reopened')
ORDER BY CASE d.severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 WHEN 'minor' THEN 2 ELSE 3 END, d.score DESC;

CREATE VIEW v_source_coverage AS
WITH topics AS (SELECT DISTINCT topic FROM sections WHERE topic <> 'boilerplate'),
     covered AS (SELECT source_id, topic, count(*) AS n_sections FROM sections GROUP BY ALL)
SELECT s.drug, s.source_id, s.kind AS source_kind, t.topic, coalesce(c.n_sections, 0) AS n_sections,
       c.n_sections IS NOT NULL AS covered
FROM sources s CROSS JOIN topics t LEFT JOIN covered c ON c.source_id = s.source_id AND c.topic = t.topic
ORDER BY s.drug, s.source_id, t.topic;

CREATE VIEW v_unmatched_mentions AS
SELECT 'adverse_effects' AS fact_table, mention, count(*) AS n, string_agg(DISTINCT source_id, ', ') AS sources
FROM adverse_effects WHERE match_method = 'unmatched' GROUP BY ALL
UNION ALL
SELECT 'conditions', mention, count(*), string_agg(DISTINCT source_id, ', ') FROM conditions WHERE match_method = 'unmatched' GROUP BY ALL
UNION ALL
SELECT 'interactions', mention, count(*), string_agg(DISTINCT source_id, ', ') FROM interactions WHERE match_method = 'unmatched' GROUP BY ALL
ORDER BY fact_table, n DESC, mention;
