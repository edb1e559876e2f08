-- Scalar functions in persistent queries.

--@test: string functions
CREATE STREAM people (id INT KEY, first STRING, last STRING, email STRING)
  WITH (kafka_topic='people', value_format='JSON', partitions=1);
CREATE STREAM names AS SELECT id,
    CONCAT(first, ' ', last) AS full_name,
    LCASE(email) AS email,
    LEN(first) AS first_len,
    SUBSTRING(last, 1, 3) AS last3,
    REPLACE(email, '@', ' at ') AS spoken,
    TRIM('  x  ') AS trimmed,
    LPAD(CAST(id AS STRING), 4, '0') AS padded,
    SPLIT(email, '@')[2] AS domain,
    INSTR(email, '@') AS at_pos,
    INITCAP('hello world') AS title
  FROM people;

INSERT INTO people (id, first, last, email, ROWTIME) VALUES (7, 'Ada', 'Lovelace', 'ADA@Example.org', 1);

ASSERT VALUES names (id, full_name, email, first_len, last3, spoken, trimmed, padded, domain, at_pos, title)
  VALUES (7, 'Ada Lovelace', 'ada@example.org', 3, 'Lov', 'ADA at Example.org', 'x', '0007',
          'Example.org', 4, 'Hello World');

--@test: math functions
CREATE STREAM nums (id INT KEY, i INT, d DOUBLE)
  WITH (kafka_topic='nums', value_format='JSON', partitions=1);
CREATE STREAM results AS SELECT id,
    ABS(i) AS a,
    CEIL(d) AS c,
    FLOOR(d) AS f,
    ROUND(d) AS r,
    ROUND(d, 1) AS r1,
    SIGN(i) AS s,
    GREATEST(i, 10) AS g,
    i % 4 AS m,
    i / 4 AS q
  FROM nums;

INSERT INTO nums (id, i, d, ROWTIME) VALUES (1, -7, 2.46, 1);

ASSERT VALUES results (id, a, c, f, r, r1, s, g, m, q)
  VALUES (1, 7, 3.0, 2.0, 2, 2.5, -1, 10, -3, -1);

--@test: conditional expressions and casts
CREATE STREAM events (id INT KEY, level INT, note STRING)
  WITH (kafka_topic='events', value_format='JSON', partitions=1);
CREATE STREAM labelled AS SELECT id,
    CASE WHEN level >= 3 THEN 'high' WHEN level = 2 THEN 'medium' ELSE 'low' END AS label,
    COALESCE(note, 'none') AS note,
    IFNULL(note, '-') AS dash,
    CAST(level AS STRING) AS level_text,
    CAST('12' AS INT) + level AS twelve_more,
    level IN (1, 3) AS odd,
    level BETWEEN 2 AND 3 AS mid
  FROM events;

INSERT INTO events (id, level, note, ROWTIME) VALUES (1, 3, 'disk', 1);
INSERT INTO events (id, level, ROWTIME) VALUES (2, 2, 2);

ASSERT VALUES labelled (id, label, note, dash, level_text, twelve_more, odd, mid, ROWTIME)
  VALUES (1, 'high', 'disk', 'disk', '3', 15, true, true, 1);
ASSERT VALUES labelled (id, label, note, dash, level_text, twelve_more, odd, mid, ROWTIME)
  VALUES (2, 'medium', 'none', '-', '2', 14, false, true, 2);

--@test: date and time functions read the record time
CREATE STREAM clicks (id INT KEY, url STRING)
  WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE STREAM stamped AS SELECT id,
    TIMESTAMPTOSTRING(ROWTIME, 'yyyy-MM-dd HH:mm:ss', 'UTC') AS at,
    STRINGTOTIMESTAMP('2021-03-04 05:06:07', 'yyyy-MM-dd HH:mm:ss', 'UTC') AS parsed,
    UNIX_DATE(DATEADD(DAYS, 1, FROM_DAYS(0))) AS day_one
  FROM clicks;

INSERT INTO clicks (id, url, ROWTIME) VALUES (1, '/home', 86400000);

ASSERT VALUES stamped (id, at, parsed, day_one, ROWTIME)
  VALUES (1, '1970-01-02 00:00:00', 1614834367000, 1, 86400000);

--@test: arrays, maps and structs
CREATE STREAM carts (id INT KEY, items ARRAY<STRING>, counts MAP<STRING, INT>,
                     owner STRUCT<name STRING, age INT>)
  WITH (kafka_topic='carts', value_format='JSON', partitions=1);
CREATE STREAM summary AS SELECT id,
    items[1] AS first_item,
    ARRAY_LENGTH(items) AS n,
    ARRAY_CONTAINS(items, 'milk') AS has_milk,
    counts['eggs'] AS eggs,
    owner->name AS owner_name,
    ARRAY[owner->age, 0] AS ages
  FROM carts;

INSERT INTO carts (id, items, counts, owner, ROWTIME)
  VALUES (1, ARRAY['bread', 'milk'], MAP('eggs' := 12), STRUCT(name := 'Bo', age := 40), 1);

ASSERT VALUES summary (id, first_item, n, has_milk, eggs, owner_name, ages)
  VALUES (1, 'bread', 2, true, 12, 'Bo', ARRAY[40, 0]);

--@test: JSON text functions
CREATE STREAM docs (id INT KEY, body STRING)
  WITH (kafka_topic='docs', value_format='JSON', partitions=1);
CREATE STREAM fields AS SELECT id,
    EXTRACTJSONFIELD(body, '$.user.name') AS name,
    IS_JSON_STRING(body) AS valid,
    JSON_ARRAY_LENGTH(EXTRACTJSONFIELD(body, '$.tags')) AS tags
  FROM docs;

INSERT INTO docs (id, body, ROWTIME) VALUES (1, '{"user": {"name": "kim"}, "tags": [1, 2, 3]}', 1);

ASSERT VALUES fields (id, name, valid, tags) VALUES (1, 'kim', true, 3);

--@test: CAST of maps, structs and arrays
CREATE STREAM docs (id INT KEY, counts MAP<STRING, BIGINT>, point STRUCT<x INT, y INT>, big ARRAY<BIGINT>)
  WITH (kafka_topic='docs', value_format='JSON', partitions=1);
CREATE STREAM casts AS SELECT id,
    CAST(counts AS MAP<STRING, STRING>) AS count_text,
    CAST(point AS STRING) AS point_text,
    CAST(counts AS STRING) AS counts_text,
    CAST(point AS STRUCT<y STRING, z INT>) AS reshaped,
    CAST(big AS ARRAY<INT>) AS narrowed
  FROM docs;

INSERT INTO docs (id, counts, point, big, ROWTIME)
  VALUES (1, MAP('a' := 7), STRUCT(x := 1, y := 2), ARRAY[5, 4294967297], 1);

ASSERT VALUES casts (id, count_text, point_text, counts_text, reshaped, narrowed, ROWTIME)
  VALUES (1, MAP('a' := '7'), 'Struct{X=1,Y=2}', '{a=7}', STRUCT(y := '2', z := CAST(NULL AS INT)), ARRAY[5, 1], 1);

--@test: a string cannot be cast to an array
CREATE STREAM docs (id INT KEY, s STRING)
  WITH (kafka_topic='docs', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Cast of STRING to ARRAY<INTEGER> is not supported
CREATE STREAM bad AS SELECT id, CAST(s AS ARRAY<INT>) AS a FROM docs;

--@test: GREATEST and LEAST over dates read string literals as dates
CREATE STREAM trips (id INT KEY, start_day DATE, end_day DATE)
  WITH (kafka_topic='trips', value_format='JSON', partitions=1);
CREATE STREAM bounds AS SELECT id,
    GREATEST(start_day, end_day, '2020-01-05') AS latest,
    LEAST(start_day, end_day) AS earliest
  FROM trips;

INSERT INTO trips (id, start_day, end_day, ROWTIME) VALUES (1, '2020-01-02', '2020-01-09', 1);

ASSERT VALUES bounds (id, latest, earliest, ROWTIME) VALUES (1, '2020-01-09', '2020-01-02', 1);

--@test: GREATEST of an INT and a BIGINT is ambiguous
CREATE STREAM nums (id INT KEY, i INT, b BIGINT)
  WITH (kafka_topic='nums', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Function 'greatest' cannot be resolved due to ambiguous method parameters (INTEGER, BIGINT).
CREATE STREAM bad AS SELECT id, GREATEST(i, b) AS g FROM nums;

--@test: a time unit function rejects a column where its unit goes
CREATE STREAM days (id INT KEY, start_on DATE)
  WITH (kafka_topic='days', value_format='JSON', partitions=1);
--@expected.error: user
--@expected.message: Function 'dateadd' does not accept parameters (DATE, INTEGER, DATE).
CREATE STREAM bad AS SELECT id, DATEADD(start_on, 1, start_on) AS d FROM days;

--@test: text and bytes encodings
CREATE STREAM blobs (id INT KEY, hex STRING, word STRING, b BYTES)
  WITH (kafka_topic='blobs', value_format='JSON', partitions=1);
CREATE STREAM texts AS SELECT id,
    ENCODE(hex, 'hex', 'utf8') AS from_hex,
    ENCODE(word, 'ascii', 'hex') AS ascii_hex,
    FROM_BYTES(b, 'hex') AS upper_hex,
    CHR('\ud83d\ude00') AS emoji
  FROM blobs;

INSERT INTO blobs (id, hex, word, b, ROWTIME) VALUES (1, '0x6869', 'né', TO_BYTES('1aff', 'hex'), 1);
INSERT INTO blobs (id, hex, word, b, ROWTIME) VALUES (2, '686', 'ok', TO_BYTES('', 'hex'), 2);

ASSERT VALUES texts (id, from_hex, ascii_hex, upper_hex, emoji, ROWTIME) VALUES (1, 'hi', '6e3f', '1AFF', '😀', 1);
ASSERT VALUES texts (id, from_hex, ascii_hex, upper_hex, emoji, ROWTIME) VALUES (2, NULL, '6f6b', '', '😀', 2);

--@test: JSON and map helpers
CREATE STREAM raw (id INT KEY, doc STRING, pairs STRING)
  WITH (kafka_topic='raw', value_format='JSON', partitions=1);
CREATE STREAM parsed AS SELECT id,
    JSON_RECORDS(doc) AS fields,
    EXTRACTJSONFIELD(CONCAT(doc, '}'), '$.name') AS name,
    SPLIT_TO_MAP(pairs, ';', '=') AS settings,
    PARSE_DATE('2021-06-01 and more', 'yyyy-MM-dd') AS day,
    TO_JSON_STRING(PARSE_DATE('2021-06-01', 'yyyy-MM-dd')) AS day_json
  FROM raw;

INSERT INTO raw (id, doc, pairs, ROWTIME) VALUES (1, '{"name": "ada", "age": 36}', 'a=1=2;b;c=3', 1);

ASSERT VALUES parsed (id, fields, name, settings, day, day_json, ROWTIME)
  VALUES (1, MAP('name' := 'ada', 'age' := '36'), 'ada', MAP('a' := '1', 'c' := '3'), '2021-06-01', '"2021-06-01"', 1);
