-- Clickstream: the sessions of each user (a session ends after 5 minutes
-- without a page view) and each user's page counts, both updated as page
-- views arrive.
--
-- All at once, on the embedded broker (prints what the queries wrote):
--   sluice example run clickstream
-- Live, against `sluice server` (see the README, "Examples"):
--   sluice shell --server http://localhost:8088 -f examples/clickstream/pipeline.sql
--   sluice example data clickstream --bootstrap-servers ADDRESS --rate 10

CREATE STREAM clicks (user_id STRING KEY, page STRING, ts BIGINT)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1,
        timestamp='ts');

-- The queries read the page views from the beginning of the topic.
SET 'auto.offset.reset' = 'earliest';

-- One row per session: when a page view joins two sessions, they merge
-- (and the merged-away session is deleted with a tombstone).
CREATE TABLE user_sessions AS
  SELECT user_id, COUNT(*) AS pages,
         EARLIEST_BY_OFFSET(page) AS entry_page, LATEST_BY_OFFSET(page) AS exit_page,
         (WINDOWEND - WINDOWSTART) / 1000 AS seconds
  FROM clicks
  WINDOW SESSION (5 MINUTES)
  GROUP BY user_id
  EMIT CHANGES;

-- Page counts per user, over all time.
CREATE TABLE user_activity AS
  SELECT user_id, COUNT(*) AS page_views, COUNT_DISTINCT(page) AS distinct_pages,
         LATEST_BY_OFFSET(page) AS last_page
  FROM clicks
  GROUP BY user_id
  EMIT CHANGES;
