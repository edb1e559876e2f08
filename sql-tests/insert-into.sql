-- Writing to streams: INSERT INTO … VALUES and INSERT INTO … SELECT.

--@test: INSERT INTO SELECT merges a second stream into a sink
CREATE STREAM web (id INT KEY, page STRING)
  WITH (kafka_topic='web', value_format='JSON', partitions=1);
CREATE STREAM app (id INT KEY, page STRING)
  WITH (kafka_topic='app', value_format='JSON', partitions=1);
CREATE STREAM visits AS SELECT id, page FROM web;
INSERT INTO visits SELECT id, page FROM app;

INSERT INTO web (id, page, ROWTIME) VALUES (1, '/home', 10);
INSERT INTO app (id, page, ROWTIME) VALUES (2, '/feed', 20);

ASSERT VALUES visits (id, page, ROWTIME) VALUES (1, '/home', 10);
ASSERT VALUES visits (id, page, ROWTIME) VALUES (2, '/feed', 20);

--@test: INSERT INTO SELECT needs the sink's columns
CREATE STREAM web (id INT KEY, page STRING)
  WITH (kafka_topic='web', value_format='JSON', partitions=1);
CREATE STREAM app (id INT KEY, screen STRING, ms INT)
  WITH (kafka_topic='app', value_format='JSON', partitions=1);
CREATE STREAM visits AS SELECT id, page FROM web;
--@expected.error: user
--@expected.message: Incompatible schema between results and sink
INSERT INTO visits SELECT id, screen, ms FROM app;

--@test: the record time is kept from input to output
CREATE STREAM ticks (id INT KEY, n INT)
  WITH (kafka_topic='ticks', value_format='JSON', partitions=1);
CREATE STREAM copy AS SELECT id, n, ROWTIME AS at FROM ticks;

INSERT INTO ticks (id, n, ROWTIME) VALUES (1, 1, 1700000000000);

ASSERT VALUES copy (id, n, at, ROWTIME) VALUES (1, 1, 1700000000000, 1700000000000);

--@test: a TIMESTAMP column sets the record time
CREATE STREAM ticks (id INT KEY, n INT, event_ms BIGINT)
  WITH (kafka_topic='ticks', value_format='JSON', timestamp='event_ms', partitions=1);
CREATE STREAM copy AS SELECT id, n FROM ticks;

INSERT INTO ticks (id, n, event_ms, ROWTIME) VALUES (1, 1, 5000, 1);

ASSERT VALUES copy (id, n, ROWTIME) VALUES (1, 1, 5000);

--@test: a sink's STRING TIMESTAMP column is parsed with its TIMESTAMP_FORMAT
CREATE STREAM logins (uid INT KEY, at_text STRING)
  WITH (kafka_topic='logins', value_format='JSON', partitions=1);
CREATE STREAM timed WITH (timestamp='at_text', timestamp_format='yyyy-MM-dd HH:mm:ssX')
  AS SELECT uid, at_text FROM logins;

INSERT INTO logins (uid, at_text, ROWTIME) VALUES (1, '1970-01-01 00:00:02Z', 99);
INSERT INTO logins (uid, at_text, ROWTIME) VALUES (2, 'yesterday', 99);
INSERT INTO logins (uid, at_text, ROWTIME) VALUES (3, '1970-01-01 00:01:00Z', 99);

ASSERT VALUES timed (uid, at_text, ROWTIME) VALUES (1, '1970-01-01 00:00:02Z', 2000);
ASSERT VALUES timed (uid, at_text, ROWTIME) VALUES (3, '1970-01-01 00:01:00Z', 60000);

--@test: a record whose sink TIMESTAMP column is negative is dropped
CREATE STREAM logins (uid INT KEY, at_ms BIGINT)
  WITH (kafka_topic='logins', value_format='JSON', partitions=1);
CREATE STREAM timed WITH (timestamp='at_ms') AS SELECT uid, at_ms FROM logins;

INSERT INTO logins (uid, at_ms, ROWTIME) VALUES (1, -5, 99);
INSERT INTO logins (uid, at_ms, ROWTIME) VALUES (2, 5, 99);

ASSERT VALUES timed (uid, at_ms, ROWTIME) VALUES (2, 5, 5);
