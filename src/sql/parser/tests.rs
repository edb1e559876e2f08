//! Tests of the statement parser: every statement form, names and quoting,
//! splitting, variables, custom types and error positions.

use std::collections::HashMap;

use super::*;
use crate::sql::ast::*;

pub(super) fn parse_all(sql: &str) -> Vec<ParsedStatement> {
    match parse(sql) {
        Ok(s) => s,
        Err(e) => panic!("{sql}\n  {e}"),
    }
}

pub(super) fn one(sql: &str) -> Statement {
    let mut all = parse_all(sql);
    assert_eq!(all.len(), 1, "{sql}");
    match all.pop() {
        Some(s) => s.statement,
        None => panic!("no statement in {sql}"),
    }
}

pub(super) fn query(sql: &str) -> Query {
    match one(sql) {
        Statement::Query(q) => *q,
        other => panic!("{sql} is not a query: {other:?}"),
    }
}

pub(super) fn error(sql: &str) -> (String, Option<Location>) {
    match parse(sql) {
        Ok(s) => panic!("{sql} parsed: {s:?}"),
        Err(e) => {
            assert!(e.is_user(), "{e}");
            (e.to_string(), e.location())
        }
    }
}

pub(super) fn loc(line: u64, column: u64) -> Location {
    Location { line, column }
}

pub(super) fn exprs(items: &[SelectItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            SelectItem::Expr { expr, alias, .. } => match alias {
                Some(a) => format!("{expr} AS {a}"),
                None => expr.to_string(),
            },
            SelectItem::Wildcard => "*".into(),
            SelectItem::QualifiedWildcard(s) => format!("{s}.*"),
            SelectItem::StructWildcard(e) => format!("{e}->*"),
        })
        .collect()
}

pub(super) fn e(sql: &str) -> String {
    match parse_expression(sql) {
        Ok(e) => e.to_string(),
        Err(err) => panic!("{sql}: {err}"),
    }
}

#[test]
fn create_stream_with_columns_constraints_and_properties() {
    let Statement::CreateSource(c) = one(
        "create stream if not exists pageViews (\n  id BIGINT KEY, `Name` STRING, \
         addr STRUCT<street VARCHAR, `Zip` INT>, hs ARRAY<STRUCT<KEY STRING, VALUE BYTES>> \
         HEADERS,\n  h1 BYTES HEADER('trace'))\nWITH (kafka_topic='page-views', \
         VALUE_FORMAT='JSON', partitions=2, wrap_single_value=true, \"Odd\"=-1);",
    ) else {
        panic!("not CREATE STREAM")
    };
    assert_eq!(c.kind, SourceKind::Stream);
    assert!(c.if_not_exists && !c.or_replace && !c.is_source);
    assert_eq!(c.name, "PAGEVIEWS");
    let cols: Vec<_> = c
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.data_type.to_string(),
                c.constraint.clone(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        vec![
            ("ID", "BIGINT".to_string(), ColumnConstraint::Key),
            ("Name", "STRING".to_string(), ColumnConstraint::None),
            (
                "ADDR",
                "STRUCT<`STREET` STRING, `Zip` INTEGER>".to_string(),
                ColumnConstraint::None
            ),
            (
                "HS",
                "ARRAY<STRUCT<`KEY` STRING, `VALUE` BYTES>>".to_string(),
                ColumnConstraint::Headers
            ),
            (
                "H1",
                "BYTES".to_string(),
                ColumnConstraint::Header("trace".into())
            ),
        ]
    );
    assert_eq!(c.columns[0].location, loc(2, 3));
    let props: Vec<_> = c
        .properties
        .entries
        .iter()
        .map(|p| (p.name.as_str(), p.value.clone()))
        .collect();
    assert_eq!(
        props,
        vec![
            ("KAFKA_TOPIC", PropertyValue::String("page-views".into())),
            ("VALUE_FORMAT", PropertyValue::String("JSON".into())),
            ("PARTITIONS", PropertyValue::Number("2".into())),
            ("WRAP_SINGLE_VALUE", PropertyValue::Boolean(true)),
            ("ODD", PropertyValue::Number("-1".into())),
        ]
    );
    assert_eq!(c.properties.entries[0].location, loc(4, 7));
}

#[test]
fn create_table_forms() {
    let Statement::CreateSource(c) = one(
        "CREATE OR REPLACE SOURCE TABLE users (id STRING PRIMARY KEY, n INT) WITH (format='json')",
    ) else {
        panic!()
    };
    assert_eq!(c.kind, SourceKind::Table);
    assert!(c.or_replace && c.is_source && !c.if_not_exists);
    assert_eq!(c.columns[0].constraint, ColumnConstraint::PrimaryKey);

    // No columns: the schema comes from a registry.
    let Statement::CreateSource(c) = one("CREATE TABLE t WITH (KAFKA_TOPIC='t');") else {
        panic!()
    };
    assert!(c.columns.is_empty());

    let (msg, at) = error("CREATE TABLE t (id INT KEY) WITH (KAFKA_TOPIC='t');");
    assert_eq!(
        msg,
        "line 1:24: Column `ID` is a 'KEY' column: please use 'PRIMARY KEY' for tables"
    );
    assert_eq!(at, Some(loc(1, 24)));
    let (msg, _) = error("CREATE STREAM s (id INT PRIMARY KEY) WITH (KAFKA_TOPIC='t');");
    assert!(msg.contains("please use 'KEY' for streams"), "{msg}");
}

#[test]
fn create_as_select() {
    let Statement::CreateAsSelect(c) = one(
        "CREATE OR REPLACE TABLE counts WITH (KAFKA_TOPIC='c') AS SELECT region, COUNT(*) \
         FROM views WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY region EMIT CHANGES;",
    ) else {
        panic!()
    };
    assert_eq!((c.kind, c.name.as_str()), (SourceKind::Table, "COUNTS"));
    assert!(c.or_replace);
    assert_eq!(c.properties.entries.len(), 1);
    assert_eq!(exprs(&c.query.select), ["REGION", "COUNT(*)"]);
    assert_eq!(c.query.emit, Some(Emit::Changes));

    let Statement::CreateAsSelect(c) = one("CREATE STREAM IF NOT EXISTS s2 AS SELECT * FROM s;")
    else {
        panic!()
    };
    assert!(c.if_not_exists && c.properties.entries.is_empty());

    let (msg, _) = error("CREATE SOURCE STREAM s2 AS SELECT * FROM s;");
    assert!(msg.contains("cannot have AS SELECT"), "{msg}");
    let (msg, at) = error("CREATE STREAM s2 (a INT) AS SELECT * FROM s;");
    assert!(msg.contains("cannot declare columns"), "{msg}");
    assert_eq!(at, Some(loc(1, 18)));
    let (msg, _) = error("CREATE STREAM s2 AS INSERT INTO x SELECT * FROM s;");
    assert_eq!(
        msg,
        "line 1:21: Syntax error in CREATE STREAM AS SELECT statement at or near 'INSERT': \
         expected SELECT"
    );
}

#[test]
fn insert_forms() {
    let Statement::InsertSelect(i) =
        one("INSERT INTO sink WITH (QUERY_ID='my_q') SELECT * FROM src EMIT CHANGES;")
    else {
        panic!()
    };
    assert_eq!(i.target, "SINK");
    assert_eq!(i.properties.entries[0].name, "QUERY_ID");
    assert_eq!(i.query.from.name, "SRC");

    let Statement::InsertValues(v) =
        one("INSERT INTO s (rowtime, id, `Name`) VALUES (1, 'a''b', ARRAY[1, 2]);")
    else {
        panic!()
    };
    assert_eq!(
        v.columns,
        Some(vec!["ROWTIME".into(), "ID".into(), "Name".into()])
    );
    let values: Vec<_> = v.values.iter().map(|v| v.to_string()).collect();
    assert_eq!(values, ["1", "'a''b'", "ARRAY[1, 2]"]);

    let Statement::InsertValues(v) = one("INSERT INTO s VALUES ();") else {
        panic!()
    };
    assert_eq!((v.columns, v.values.len()), (None, 0));

    let Statement::AssertValues(v) = one("ASSERT VALUES out (id) VALUES (5);") else {
        panic!()
    };
    assert_eq!((v.target.as_str(), v.values.len()), ("OUT", 1));
    let Statement::AssertTombstone(v) = one("ASSERT NULL VALUES out (id) KEY (5);") else {
        panic!()
    };
    assert_eq!((v.target.as_str(), v.values.len()), ("OUT", 1));
    let (msg, _) = error("ASSERT TABLE out;");
    assert!(
        msg.contains("Only ASSERT VALUES and ASSERT NULL VALUES"),
        "{msg}"
    );
}

#[test]
fn show_list_and_describe() {
    let show = |sql: &str| match one(sql) {
        Statement::Show(s) => (s.target, s.extended),
        other => panic!("{other:?}"),
    };
    assert_eq!(show("SHOW STREAMS;"), (ShowTarget::Streams, false));
    assert_eq!(show("list tables extended;"), (ShowTarget::Tables, true));
    assert_eq!(
        show("SHOW TOPICS"),
        (ShowTarget::Topics { all: false }, false)
    );
    assert_eq!(
        show("SHOW ALL TOPICS EXTENDED;"),
        (ShowTarget::Topics { all: true }, true)
    );
    assert_eq!(show("SHOW QUERIES EXTENDED;"), (ShowTarget::Queries, true));
    assert_eq!(show("SHOW PROPERTIES;"), (ShowTarget::Properties, false));
    assert_eq!(show("SHOW FUNCTIONS;"), (ShowTarget::Functions, false));
    assert_eq!(show("LIST TYPES;"), (ShowTarget::Types, false));
    assert_eq!(show("SHOW VARIABLES;"), (ShowTarget::Variables, false));
    let (msg, _) = error("SHOW FUNCTIONS EXTENDED;");
    assert!(msg.contains("expected end of input"), "{msg}");
    let (msg, _) = error("SHOW CONNECTORS;");
    assert!(
        msg.contains("CONNECTOR statements are not supported"),
        "{msg}"
    );

    let describe = |sql: &str| match one(sql) {
        Statement::Describe(d) => (d.target, d.extended),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        describe("DESCRIBE orders;"),
        (DescribeTarget::Source("ORDERS".into()), false)
    );
    assert_eq!(
        describe("DESCRIBE `Orders` EXTENDED;"),
        (DescribeTarget::Source("Orders".into()), true)
    );
    assert_eq!(
        describe("DESCRIBE STREAMS EXTENDED;"),
        (DescribeTarget::Streams, true)
    );
    assert_eq!(
        describe("DESCRIBE TABLES;"),
        (DescribeTarget::Tables, false)
    );
    assert_eq!(
        describe("DESCRIBE `STREAMS`;"),
        (DescribeTarget::Source("STREAMS".into()), false)
    );
    assert_eq!(
        describe("DESCRIBE FUNCTION ucase;"),
        (DescribeTarget::Function("UCASE".into()), false)
    );
    assert_eq!(
        describe("DESCRIBE function;"),
        (DescribeTarget::Source("FUNCTION".into()), false)
    );
}

#[test]
fn explain_terminate_drop_print() {
    let Statement::Explain(Explain::QueryId(id)) = one("EXPLAIN csas_out_3;") else {
        panic!()
    };
    assert_eq!(id, "CSAS_OUT_3");
    let all = parse_all("SHOW TOPICS;\n  EXPLAIN  SELECT * FROM s EMIT CHANGES;");
    let Statement::Explain(Explain::Statement(inner)) = &all[1].statement else {
        panic!()
    };
    assert_eq!(inner.text, "SELECT * FROM s EMIT CHANGES;");
    assert_eq!(inner.location, loc(2, 12));
    assert!(matches!(inner.statement, Statement::Query(_)));
    let (msg, _) = error("EXPLAIN EXPLAIN SELECT * FROM s;");
    assert!(msg.contains("expected a statement"), "{msg}");

    assert!(matches!(
        one("TERMINATE ALL;"),
        Statement::Terminate(Terminate::All)
    ));
    let Statement::Terminate(Terminate::Query(id)) = one("terminate query CTAS_X_1;") else {
        panic!()
    };
    assert_eq!(id, "CTAS_X_1");
    let Statement::Terminate(Terminate::Query(id)) = one("TERMINATE `transient_x_1`;") else {
        panic!()
    };
    assert_eq!(id, "transient_x_1");

    let Statement::Drop(d) = one("DROP TABLE IF EXISTS t DELETE TOPIC;") else {
        panic!()
    };
    assert_eq!(
        d,
        Drop {
            kind: SourceKind::Table,
            if_exists: true,
            name: "T".into(),
            delete_topic: true
        }
    );
    let Statement::Drop(d) = one("drop stream s") else {
        panic!()
    };
    assert!(!d.if_exists && !d.delete_topic && d.kind == SourceKind::Stream);
    let Statement::DropType { name, if_exists } = one("DROP TYPE IF EXISTS address;") else {
        panic!()
    };
    assert_eq!((name.as_str(), if_exists), ("ADDRESS", true));

    let print = |sql: &str| match one(sql) {
        Statement::Print(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        print("PRINT 'my-topic' FROM BEGINNING INTERVAL 2 LIMIT 10;"),
        Print {
            topic: "my-topic".into(),
            from_beginning: true,
            interval: Some(2),
            limit: Some(10)
        }
    );
    assert_eq!(print("PRINT pageviews SAMPLE 3;").interval, Some(3));
    assert_eq!(print("PRINT pageviews;").topic, "pageviews");
    assert_eq!(print("PRINT `Mixed_Topic`;").topic, "Mixed_Topic");
}

#[test]
fn session_and_misc_statements() {
    let Statement::SetProperty { name, value } = one("SET 'auto.offset.reset' = 'earliest';")
    else {
        panic!()
    };
    assert_eq!(
        (name.as_str(), value.as_str()),
        ("auto.offset.reset", "earliest")
    );
    let Statement::UnsetProperty { name } = one("UNSET 'auto.offset.reset';") else {
        panic!()
    };
    assert_eq!(name, "auto.offset.reset");
    let Statement::Define { name, value } = one("DEFINE myTopic = 'orders';") else {
        panic!()
    };
    assert_eq!((name.as_str(), value.as_str()), ("myTopic", "orders"));
    let Statement::Undefine { name } = one("UNDEFINE myTopic;") else {
        panic!()
    };
    assert_eq!(name, "myTopic");
    let Statement::RunScript { path } = one("RUN SCRIPT '/tmp/x.sql';") else {
        panic!()
    };
    assert_eq!(path, "/tmp/x.sql");

    let Statement::CreateType {
        name,
        if_not_exists,
        data_type,
    } = one("CREATE TYPE IF NOT EXISTS address AS STRUCT<street STRING, zip INT>;")
    else {
        panic!()
    };
    assert_eq!((name.as_str(), if_not_exists), ("ADDRESS", true));
    assert_eq!(
        data_type.to_string(),
        "STRUCT<`STREET` STRING, `ZIP` INTEGER>"
    );

    let Statement::Alter {
        kind,
        name,
        columns,
    } = one("ALTER STREAM s ADD COLUMN c1 INT, ADD c2 ARRAY<STRING>;")
    else {
        panic!()
    };
    assert_eq!((kind, name.as_str()), (SourceKind::Stream, "S"));
    let cols: Vec<_> = columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.data_type))
        .collect();
    assert_eq!(cols, ["C1 INTEGER", "C2 ARRAY<STRING>"]);

    for (sql, what) in [
        ("PAUSE q1;", "PAUSE"),
        ("ALTER SYSTEM 'a' = 'b';", "ALTER SYSTEM"),
        ("CREATE SOURCE CONNECTOR c WITH ('a'='b');", "CONNECTOR"),
        ("DROP CONNECTOR c;", "CONNECTOR"),
    ] {
        let (msg, _) = error(sql);
        assert!(
            msg.contains(&format!("{what} statements are not supported")),
            "{msg}"
        );
    }
}

#[test]
fn splits_statements_with_exact_text() {
    let sql = "-- leading comment\nSHOW STREAMS;  /* between; */ SELECT ';' AS x\nFROM s -- c;\nEMIT CHANGES;;\n\nLIST TABLES";
    let all = parse_all(sql);
    let texts: Vec<_> = all.iter().map(|s| (s.text.as_str(), s.location)).collect();
    assert_eq!(
        texts,
        vec![
            ("SHOW STREAMS;", loc(2, 1)),
            ("SELECT ';' AS x\nFROM s -- c;\nEMIT CHANGES;", loc(2, 31)),
            ("LIST TABLES", loc(6, 1)),
        ]
    );
    let Statement::Query(q) = &all[1].statement else {
        panic!()
    };
    assert_eq!(q.location, loc(2, 31));
    assert_eq!(q.from.location, loc(3, 6));

    assert!(parse_all("  -- nothing here\n ; ;").is_empty());
    let multibyte = parse_all("SELECT 'é' FROM s; SELECT 'ü' FROM t;");
    assert_eq!(multibyte[1].text, "SELECT 'ü' FROM t;");
    assert_eq!(multibyte[1].location, loc(1, 20));
}

#[test]
fn errors_have_positions_and_say_what_was_expected() {
    assert_eq!(
        error("SELECT a\nFROMM s;"),
        (
            "line 2:7: Syntax error in SELECT statement at or near 's': expected ',' or FROM"
                .to_string(),
            Some(loc(2, 7))
        )
    );
    assert_eq!(
        error("SHOW STREAMS; SELEC * FROM s;"),
        (
            format!(
                "line 1:15: Syntax error at or near 'SELEC': expected {}",
                statements_list()
            ),
            Some(loc(1, 15))
        )
    );
    let (msg, at) = error("SELECT * FROM s WHERE a = ;");
    assert_eq!(at, Some(loc(1, 27)));
    assert!(
        msg.starts_with(
            "line 1:27: Syntax error in SELECT statement at end of input: expected an expression"
        ),
        "{msg}"
    );
    let (msg, at) = error("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='x') EXTRA;");
    assert_eq!(at, Some(loc(1, 48)));
    assert!(
        msg.contains("at or near 'EXTRA': expected end of input"),
        "{msg}"
    );
    let (msg, at) = error("DROP STREAM s;\nSELECT 'unterminated FROM s;");
    assert_eq!(at, Some(loc(2, 8)));
    assert!(
        msg.starts_with("line 2:8: Syntax error: Unterminated string literal"),
        "{msg}"
    );
    let (msg, _) = error("CREATE STREAM s (a DECIMAL(50, 2)) WITH (KAFKA_TOPIC='x');");
    assert!(
        msg.starts_with("line 1:20: DECIMAL precision must be between 1 and 38"),
        "{msg}"
    );
    let (msg, _) = error("CREATE STREAM s (a ADDRESS) WITH (KAFKA_TOPIC='x');");
    assert_eq!(msg, "line 1:20: Unknown type: ADDRESS");
    let (msg, _) = error("SELECT f(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))) FROM s;");
    assert!(msg.contains("nested too deeply"), "{msg}");
}

fn statements_list() -> &'static str {
    "a statement: SELECT, CREATE, INSERT, DROP, ALTER, SHOW, LIST, DESCRIBE, EXPLAIN, \
     TERMINATE, PRINT, SET, UNSET, DEFINE, UNDEFINE or RUN SCRIPT"
}

#[test]
fn never_panics_on_truncated_or_odd_input() {
    let sql = "CREATE STREAM `s` (a STRUCT<b ARRAY<MAP<STRING, DECIMAL(4, 2)>>> KEY) WITH \
               (KAFKA_TOPIC='t'); INSERT INTO s2 SELECT TRANSFORM(a->b, (x, y) => x[1]) AS q \
               FROM s s1 LEFT JOIN t WITHIN (1 SECOND, 2 DAYS) GRACE PERIOD 3 HOURS ON s1.a = t.a \
               WINDOW HOPPING (SIZE 1 HOUR, ADVANCE BY 5 MINUTES) WHERE a->b IS NOT NULL \
               GROUP BY a PARTITION BY NULL HAVING COUNT(*) > 1 EMIT FINAL LIMIT 3; \
               PRINT 'x' FROM BEGINNING; EXPLAIN q1; DEFINE v = '${x}';";
    assert!(parse(sql).is_ok());
    let chars: Vec<(usize, char)> = sql.char_indices().collect();
    for (i, _) in chars {
        let _ = parse(&sql[..i]);
        let _ = parse(&sql[i..]);
    }
    for odd in [
        "", ";", "`", "\"", "'", "/*", "${", "ARRAY<", "->", "=>", "(", ")", "é", "\u{0}",
    ] {
        let _ = parse(odd);
        let _ = parse_expression(odd);
        let _ = parse_data_type(odd);
    }
    let deep = format!("SELECT {}1{} FROM s;", "(".repeat(5000), ")".repeat(5000));
    assert!(parse(&deep).is_err());
    let explains = format!("{}SHOW STREAMS;", "EXPLAIN ".repeat(5000));
    assert!(parse(&explains).is_err());
}

#[test]
fn variables_are_substituted_and_defined_in_order() {
    let mut vars = HashMap::from([("fmt".to_string(), "JSON".to_string())]);
    let mut context = ParseContext {
        variables: Some(&mut vars),
        types: None,
    };
    let parsed = parse_with(
        "DEFINE topic = 'orders_${fmt}';\nCREATE STREAM ${TOPIC} (a INT) WITH (KAFKA_TOPIC='${topic}', \
         VALUE_FORMAT='${fmt}', PARTITIONS=${n});",
        &mut ParseContext {
            variables: Some(&mut HashMap::from([("n".to_string(), "3".to_string())])),
            types: None,
        },
    );
    let Err(err) = parsed else { panic!() };
    assert!(
        err.to_string().contains("Variable 'fmt' is not defined"),
        "{err}"
    );

    let parsed = parse_with(
        "DEFINE topic = 'orders_${fmt}';\nCREATE STREAM ${TOPIC} (a INT) WITH (KAFKA_TOPIC='${topic}', \
         VALUE_FORMAT='${fmt}');\nUNDEFINE fmt;",
        &mut context,
    );
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        parsed[1].text,
        "CREATE STREAM orders_JSON (a INT) WITH (KAFKA_TOPIC='orders_JSON', VALUE_FORMAT='JSON');"
    );
    let Statement::CreateSource(c) = &parsed[1].statement else {
        panic!()
    };
    assert_eq!(c.name, "ORDERS_JSON");
    assert_eq!(
        vars,
        HashMap::from([("topic".to_string(), "orders_JSON".to_string())])
    );
}

struct Catalog;

impl TypeResolver for Catalog {
    fn resolve_type(&self, name: &str) -> Option<SqlType> {
        (name == "MONEY").then_some(SqlType::Decimal(10, 2))
    }
}

#[test]
fn custom_types_resolve_from_the_script_and_the_catalog() {
    let mut context = ParseContext {
        variables: None,
        types: Some(&Catalog),
    };
    let parsed = parse_with(
        "CREATE TYPE addr AS STRUCT<city STRING, price money>;\n\
         CREATE STREAM s (a ADDR, b ARRAY<Money>) WITH (KAFKA_TOPIC='t');\n\
         SELECT CAST(x AS addr) FROM s;\n\
         DROP TYPE addr;",
        &mut context,
    );
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let Statement::CreateSource(c) = &parsed[1].statement else {
        panic!()
    };
    let types: Vec<_> = c.columns.iter().map(|c| c.data_type.to_string()).collect();
    assert_eq!(
        types,
        [
            "STRUCT<`CITY` STRING, `PRICE` DECIMAL(10, 2)>",
            "ARRAY<DECIMAL(10, 2)>"
        ]
    );
    let Statement::Query(q) = &parsed[2].statement else {
        panic!()
    };
    assert_eq!(
        exprs(&q.select),
        ["CAST(X AS STRUCT<`CITY` STRING, `PRICE` DECIMAL(10,2)>)"]
    );
    let after_drop = parse_with(
        "DROP TYPE money; CREATE STREAM s (a MONEY) WITH (KAFKA_TOPIC='t');",
        &mut context,
    );
    assert!(after_drop.is_err_and(|e| e.to_string().contains("Unknown type: MONEY")));
}

#[test]
fn split_without_parsing() {
    let parts = split("DEFINE x = '1'; SELECT ${x} FROM s").ok();
    let parts: Vec<_> = parts
        .unwrap_or_default()
        .iter()
        .map(|p| (p.text, p.location))
        .collect();
    assert_eq!(
        parts,
        vec![
            ("DEFINE x = '1';", loc(1, 1)),
            ("SELECT ${x} FROM s", loc(1, 17))
        ]
    );
}

#[test]
fn deep_nesting_fails_cleanly_in_linear_time() {
    // Parsing runs on its own large stack, so this passes on a 2 MiB test
    // thread; and no nested form is parsed twice, so none takes exponential
    // time when the innermost part is wrong.
    let wrap: [fn(&str) -> String; 14] = [
        |s| format!("f(a, x => {s})"),
        |s| format!("({s})"),
        |s| format!("- {s}"),
        |s| format!("CASE ({s}"),
        |s| format!("NOT ({s}"),
        |s| format!("CAST({s} AS INT)"),
        |s| format!("MAP('k' := {s})"),
        |s| format!("ARRAY[{s}]"),
        |s| format!("a[{s}]"),
        |s| format!("CEIL({s}"),
        |s| format!("SUBSTRING({s}"),
        |s| format!("TRIM({s}"),
        |s| format!("f(a := {s}"),
        |s| format!("1 IN (({s}"),
    ];
    for (i, wrap) in wrap.iter().enumerate() {
        for depth in [30, 200] {
            let mut sql = String::from("1 +");
            for _ in 0..depth {
                sql = wrap(&sql);
            }
            let started = std::time::Instant::now();
            let result = parse(&format!("SELECT {sql} FROM s;"));
            assert!(result.is_err(), "case {i} depth {depth}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "case {i} depth {depth} took {:?}",
                started.elapsed()
            );
        }
    }
}

#[test]
fn windows_line_endings_and_tabs_keep_positions() {
    let all = parse_all("SHOW STREAMS;\r\n\tDESCRIBE s;\r\n");
    let texts: Vec<_> = all.iter().map(|s| (s.text.as_str(), s.location)).collect();
    assert_eq!(
        texts,
        vec![("SHOW STREAMS;", loc(1, 1)), ("DESCRIBE s;", loc(2, 2))]
    );
    let (_, at) = error("SHOW STREAMS;\r\n\tDESCRIBE ;");
    assert_eq!(at, Some(loc(2, 11)));
}

#[test]
fn names_may_start_with_digits() {
    let q = query("SELECT ROUND(v, -1) AS 1R, 2 AS `2`, 1.5e3 FROM s EMIT CHANGES;");
    match &q.select[0] {
        SelectItem::Expr { alias, .. } => assert_eq!(alias.as_deref(), Some("1R")),
        other => panic!("{other:?}"),
    }
    assert_eq!(q.select.len(), 3);
}
