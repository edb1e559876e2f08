-- Key and value formats: JSON, DELIMITED and KAFKA, read and written.

--@test: DELIMITED values are read and written as comma-separated text
CREATE STREAM lines (id STRING KEY, name STRING, score INT)
  WITH (kafka_topic='lines', value_format='DELIMITED', partitions=1);
CREATE STREAM doubled AS SELECT id, name, score * 2 AS score FROM lines;

INSERT INTO lines (id, name, score, ROWTIME) VALUES ('a', 'Ann', 21, 1);

ASSERT VALUES doubled (id, name, score, ROWTIME) VALUES ('a', 'Ann', 42, 1);

--@test: a custom delimiter separates the columns
CREATE STREAM lines (id STRING KEY, name STRING, score INT)
  WITH (kafka_topic='lines', value_format='DELIMITED', value_delimiter='|', partitions=1);
CREATE STREAM piped WITH (value_delimiter=';') AS SELECT id, name, score FROM lines;

INSERT INTO lines (id, name, score, ROWTIME) VALUES ('b', 'Bea', 5, 1);

ASSERT VALUES piped (id, name, score) VALUES ('b', 'Bea', 5);

--@test: converting JSON to DELIMITED
CREATE STREAM src (id INT KEY, name STRING, ok BOOLEAN)
  WITH (kafka_topic='src', value_format='JSON', partitions=1);
CREATE STREAM csv WITH (value_format='DELIMITED') AS SELECT id, name, ok FROM src;

INSERT INTO src (id, name, ok, ROWTIME) VALUES (3, 'Cy', true, 7);

ASSERT VALUES csv (id, name, ok, ROWTIME) VALUES (3, 'Cy', true, 7);

--@test: KAFKA values carry a single column
CREATE STREAM temps (sensor STRING KEY, celsius DOUBLE)
  WITH (kafka_topic='temps', key_format='KAFKA', value_format='KAFKA', partitions=1);
CREATE STREAM fahrenheit AS SELECT sensor, celsius * 9 / 5 + 32 AS f FROM temps;

INSERT INTO temps (sensor, celsius, ROWTIME) VALUES ('t1', 100.0, 1);

ASSERT VALUES fahrenheit (sensor, f, ROWTIME) VALUES ('t1', 212.0, 1);

--@test: JSON keys and unwrapped single values
CREATE STREAM src (id INT KEY, name STRING)
  WITH (kafka_topic='src', key_format='JSON', value_format='JSON', partitions=1);
CREATE STREAM bare WITH (wrap_single_value=false) AS SELECT id, name FROM src;

INSERT INTO src (id, name, ROWTIME) VALUES (4, 'Di', 1);

ASSERT VALUES bare (id, name, ROWTIME) VALUES (4, 'Di', 1);

--@test: a keyless stream reads and writes no key
CREATE STREAM logs (line STRING)
  WITH (kafka_topic='logs', value_format='JSON', partitions=1);
CREATE STREAM errors AS SELECT line FROM logs WHERE line LIKE 'ERROR%';

INSERT INTO logs (line, ROWTIME) VALUES ('INFO started', 1);
INSERT INTO logs (line, ROWTIME) VALUES ('ERROR disk full', 2);

ASSERT VALUES errors (line, ROWTIME) VALUES ('ERROR disk full', 2);

--@test: an unknown format is rejected
--@expected.error: user
--@expected.message: Unknown format
CREATE STREAM s (id INT KEY, v INT)
  WITH (kafka_topic='s', value_format='YAML', partitions=1);

--@test: KAFKA cannot carry several value columns
--@expected.error: user
--@expected.message: The 'KAFKA' format only supports a single field
CREATE STREAM s (id INT KEY, a INT, b INT)
  WITH (kafka_topic='s', value_format='KAFKA', partitions=1);

--@test: the configured value wrapping applies to single-column sinks only
SET 'ksql.persistence.wrap.single.values'='false';
CREATE STREAM pairs (id INT KEY, a STRING, b STRING)
  WITH (kafka_topic='pairs', value_format='JSON', partitions=1);
CREATE STREAM firsts AS SELECT id, a FROM pairs;
CREATE STREAM firsts_raw (text STRING) WITH (kafka_topic='FIRSTS', value_format='KAFKA');
CREATE STREAM seen AS SELECT text FROM firsts_raw;

INSERT INTO pairs (id, a, b, ROWTIME) VALUES (1, 'x', 'y', 1);

ASSERT VALUES firsts (id, a, ROWTIME) VALUES (1, 'x', 1);
ASSERT VALUES seen (text, ROWTIME) VALUES ('"x"', 1);

--@test: a sink's default topic takes the configured prefix
SET 'ksql.output.topic.name.prefix'='team1-';
CREATE STREAM pairs (id INT KEY, a STRING)
  WITH (kafka_topic='pairs', value_format='JSON', partitions=1);
CREATE STREAM copies AS SELECT id, a FROM pairs;
CREATE STREAM copies_raw (id INT KEY, a STRING) WITH (kafka_topic='team1-COPIES', value_format='JSON');
CREATE STREAM seen AS SELECT id, a FROM copies_raw;

INSERT INTO pairs (id, a, ROWTIME) VALUES (1, 'x', 1);

ASSERT VALUES copies (id, a, ROWTIME) VALUES (1, 'x', 1);
ASSERT VALUES seen (id, a, ROWTIME) VALUES (1, 'x', 1);
