-- PARTITION BY re-keys a stream: the new key goes into the record key.

--@test: re-keying by a value column moves it into the key
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', value_format='JSON', partitions=1);
CREATE STREAM trips_by_city AS SELECT city, trip_id, km FROM trips PARTITION BY city;

INSERT INTO trips (trip_id, city, km, ROWTIME) VALUES (100, 'Oslo', 3.5, 10);
INSERT INTO trips (trip_id, city, km, ROWTIME) VALUES (101, 'Lima', 12.0, 20);

ASSERT VALUES trips_by_city (city, trip_id, km, ROWTIME) VALUES ('Oslo', 100, 3.5, 10);
ASSERT VALUES trips_by_city (city, trip_id, km, ROWTIME) VALUES ('Lima', 101, 12.0, 20);

--@test: re-keying by an expression names the key by its alias
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', value_format='JSON', partitions=1);
CREATE STREAM by_upper AS
  SELECT UCASE(city) AS place, km FROM trips PARTITION BY UCASE(city);

INSERT INTO trips (trip_id, city, km, ROWTIME) VALUES (1, 'rome', 1.0, 5);

ASSERT VALUES by_upper (place, km, ROWTIME) VALUES ('ROME', 1.0, 5);

--@test: a null partitioning value gives a null key
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', value_format='JSON', partitions=1);
CREATE STREAM trips_by_city AS SELECT city, km FROM trips PARTITION BY city;

INSERT INTO trips (trip_id, km, ROWTIME) VALUES (7, 2.0, 1);

ASSERT VALUES trips_by_city (city, km, ROWTIME) VALUES (NULL, 2.0, 1);

--@test: PARTITION BY NULL makes a keyless stream
CREATE STREAM trips (trip_id BIGINT KEY, city STRING)
  WITH (kafka_topic='trips', value_format='JSON', partitions=1);
CREATE STREAM keyless AS SELECT trip_id, city FROM trips PARTITION BY NULL;

INSERT INTO trips (trip_id, city, ROWTIME) VALUES (9, 'Kyiv', 3);

ASSERT VALUES keyless (trip_id, city, ROWTIME) VALUES (9, 'Kyiv', 3);

--@test: the partitioning expression must be selected
CREATE STREAM trips (trip_id BIGINT KEY, city STRING)
  WITH (kafka_topic='trips', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: must include the partitioning expression
CREATE STREAM bad AS SELECT trip_id FROM trips PARTITION BY city;

--@test: SELECT * after PARTITION BY puts the new key first and the old key last
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', value_format='DELIMITED', partitions=1);
CREATE STREAM trips_by_city AS SELECT * FROM trips PARTITION BY city;

INSERT INTO trips (trip_id, city, km, ROWTIME) VALUES (100, 'Oslo', 3.5, 10);

ASSERT VALUES trips_by_city (city, km, trip_id, ROWTIME) VALUES ('Oslo', 3.5, 100, 10);

--@test: SELECT * after PARTITION BY an expression names the key KSQL_COL_0
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', value_format='DELIMITED', partitions=1);
CREATE STREAM by_length AS SELECT * FROM trips PARTITION BY LEN(city);

INSERT INTO trips (trip_id, city, km, ROWTIME) VALUES (100, 'Oslo', 3.5, 10);

ASSERT VALUES by_length (KSQL_COL_0, city, km, trip_id, ROWTIME) VALUES (4, 'Oslo', 3.5, 100, 10);

--@test: the key columns follow the PARTITION BY order
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', key_format='DELIMITED', value_format='JSON', partitions=1);
CREATE STREAM by_km_city AS SELECT city, km, trip_id FROM trips PARTITION BY km, city;

INSERT INTO trips (trip_id, city, km, ROWTIME) VALUES (5, 'Rome', 2.5, 10);

ASSERT VALUES by_km_city (km, city, trip_id, ROWTIME) VALUES (2.5, 'Rome', 5, 10);

--@test: a key of several columns is written whole even when its columns are null
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', format='JSON', partitions=1);
CREATE STREAM by_pair AS SELECT * FROM trips PARTITION BY city, km;

INSERT INTO trips (trip_id, ROWTIME) VALUES (5, 10);

ASSERT VALUES by_pair (city, km, trip_id, ROWTIME) VALUES (NULL, NULL, 5, 10);

--@test: AS_VALUE keeps a copy of the partitioning column in the value
CREATE STREAM trips (trip_id BIGINT KEY, city STRING, km DOUBLE)
  WITH (kafka_topic='trips', value_format='JSON', partitions=1);
CREATE STREAM by_city AS SELECT city, AS_VALUE(city) AS town, km FROM trips PARTITION BY city;

INSERT INTO trips (trip_id, city, km, ROWTIME) VALUES (5, 'Bern', 1.0, 10);

ASSERT VALUES by_city (city, town, km, ROWTIME) VALUES ('Bern', 'Bern', 1.0, 10);
