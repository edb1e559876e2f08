//! Tests of the Schema Registry formats through the format registry: round
//! trips of every SQL type, bad records, schemas that evolve.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::format::{registry, Format, FormatSpec, Part, SrSpec};
use crate::sr::{RegistryRef, SchemaRegistry, SchemaType, Store};
use crate::types::SqlType;

fn schema(columns: &[(&str, SqlType)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.to_arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

fn spec(format: Format, store: &Arc<Store>, subject: &str) -> FormatSpec {
    FormatSpec {
        sr: Some(SrSpec {
            registry: RegistryRef(Arc::clone(store) as Arc<dyn SchemaRegistry>),
            subject: subject.to_string(),
            schema_id: None,
            full_name: None,
            default_name: "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema".into(),
        }),
        ..FormatSpec::new(format)
    }
}

/// Columns from JSON objects (one per row), as the JSON format reads them.
fn columns_of(schema: &SchemaRef, rows: &[&str]) -> Vec<ArrayRef> {
    let json = FormatSpec {
        wrap_single_value: Some(true),
        ..FormatSpec::new(Format::Json)
    };
    let payloads: Vec<Option<&[u8]>> = rows.iter().map(|r| Some(r.as_bytes())).collect();
    let decoded = registry::decoder(&json, Part::Value, Arc::clone(schema))
        .unwrap()
        .decode(&payloads)
        .unwrap();
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    decoded.columns
}

/// The columns as JSON objects, one per row.
fn json_of(schema: &SchemaRef, columns: &[ArrayRef]) -> Vec<String> {
    let json = FormatSpec {
        wrap_single_value: Some(true),
        ..FormatSpec::new(Format::Json)
    };
    let encoded = registry::encoder(&json, Part::Value, Arc::clone(schema))
        .unwrap()
        .encode(columns)
        .unwrap();
    (0..encoded.len())
        .map(|i| String::from_utf8(encoded.get(i).unwrap_or(b"null").to_vec()).unwrap())
        .collect()
}

fn every_type() -> SchemaRef {
    schema(&[
        ("B", SqlType::Boolean),
        ("I", SqlType::Int),
        ("L", SqlType::Bigint),
        ("D", SqlType::Double),
        ("N", SqlType::Decimal(6, 2)),
        ("S", SqlType::String),
        ("Y", SqlType::Bytes),
        ("DT", SqlType::Date),
        ("T", SqlType::Time),
        ("TS", SqlType::Timestamp),
        ("A", SqlType::Array(Box::new(SqlType::String))),
        (
            "M",
            SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Bigint)),
        ),
        (
            "ST",
            SqlType::Struct(vec![
                ("X".into(), SqlType::Int),
                ("Z".into(), SqlType::Array(Box::new(SqlType::Double))),
            ]),
        ),
    ])
}

const ROWS: &[&str] = &[
    r#"{"B":true,"I":-7,"L":400000000000,"D":1.5,"N":1234.56,"S":"héllo","Y":"AQID","DT":19000,"T":3600000,"TS":1700000000123,"A":["a",null,"c"],"M":{"k":1,"n":null},"ST":{"X":1,"Z":[0.5]}}"#,
    r#"{"B":null,"I":null,"L":null,"D":null,"N":null,"S":null,"Y":null,"DT":null,"T":null,"TS":null,"A":null,"M":null,"ST":null}"#,
    r#"{"B":false,"I":0,"L":0,"D":-0.25,"N":-0.01,"S":"","Y":"","DT":0,"T":0,"TS":0,"A":[],"M":{},"ST":{"X":null,"Z":[]}}"#,
];

#[test]
fn every_type_round_trips_through_each_registry_format() {
    for format in [
        Format::Avro,
        Format::JsonSr,
        Format::Protobuf,
        Format::ProtobufNosr,
    ] {
        let store = Arc::new(Store::default());
        let s = every_type();
        let spec = spec(format, &store, "t-value");
        registry::validate(&spec, Part::Value, &s).unwrap();
        let columns = columns_of(&s, ROWS);
        let encoded = registry::encoder(&spec, Part::Value, Arc::clone(&s))
            .unwrap()
            .encode(&columns)
            .unwrap();
        if format != Format::ProtobufNosr {
            let latest = store
                .latest("t-value")
                .unwrap()
                .expect("the sink's schema is registered");
            let expected_type = match format {
                Format::Avro => SchemaType::Avro,
                Format::JsonSr => SchemaType::Json,
                _ => SchemaType::Protobuf,
            };
            assert_eq!(latest.schema.schema_type, expected_type);
            assert_eq!(
                &encoded.get(0).unwrap()[..5],
                &crate::format::avro::prefix(latest.id)
            );
        }
        let payloads: Vec<Option<&[u8]>> = (0..encoded.len()).map(|i| encoded.get(i)).collect();
        let decoded = registry::decoder(&spec, Part::Value, Arc::clone(&s))
            .unwrap()
            .decode(&payloads)
            .unwrap();
        assert!(decoded.errors.is_empty(), "{format}: {:?}", decoded.errors);
        let back = json_of(&s, &decoded.columns);
        let want = json_of(&s, &columns);
        if matches!(format, Format::Protobuf | Format::ProtobufNosr) {
            // proto3 has no nulls without presence: scalars read back as
            // their defaults, and arrays cannot hold nulls.
            let want = want[0]
                .replace(r#"["a",null,"c"]"#, r#"["a","","c"]"#)
                .replace(r#""n":null"#, r#""n":0"#);
            assert_eq!(back[0], want, "{format}");
            assert!(
                back[1].contains("\"I\":0") && back[1].contains("\"ST\":null"),
                "{}",
                back[1]
            );
        } else {
            assert_eq!(back, want, "{format}");
        }
    }
}

#[test]
fn a_bad_record_fails_alone() {
    for format in [Format::Avro, Format::Protobuf, Format::JsonSr] {
        let store = Arc::new(Store::default());
        let s = schema(&[("A", SqlType::Bigint), ("B", SqlType::String)]);
        let spec = spec(format, &store, "t-value");
        let columns = columns_of(&s, &[r#"{"A":1,"B":"x"}"#, r#"{"A":2,"B":"y"}"#]);
        let encoded = registry::encoder(&spec, Part::Value, Arc::clone(&s))
            .unwrap()
            .encode(&columns)
            .unwrap();
        let good = encoded.get(0).unwrap().to_vec();
        let mut truncated = encoded.get(1).unwrap().to_vec();
        truncated.truncate(truncated.len() - 1);
        let unknown_id = [0u8, 0, 0, 0, 99, 2, 4];
        let payloads: Vec<Option<&[u8]>> = vec![
            Some(&good),
            Some(b"{\"not\": \"framed\"}"),
            Some(&truncated),
            None,
            Some(&unknown_id),
            Some(&good),
        ];
        let decoded = registry::decoder(&spec, Part::Value, Arc::clone(&s))
            .unwrap()
            .decode(&payloads)
            .unwrap();
        let rows: Vec<usize> = decoded.errors.iter().map(|e| e.row).collect();
        let expected: &[usize] = match format {
            // JSON_SR reads the JSON after the prefix: a shorter body is
            // still JSON only if it parses.
            Format::JsonSr => &[1, 2, 4],
            _ => &[1, 2, 4],
        };
        assert_eq!(rows, expected, "{format}: {:?}", decoded.errors);
        assert!(
            decoded.errors[0].reason.contains("magic byte"),
            "{:?}",
            decoded.errors[0]
        );
        let back = json_of(&s, &decoded.columns);
        assert_eq!(back[0], r#"{"A":1,"B":"x"}"#, "{format}");
        assert_eq!(back[5], r#"{"A":1,"B":"x"}"#, "{format}");
    }
}

#[test]
fn avro_sources_follow_new_versions_and_say_why_they_cannot() {
    let store = Arc::new(Store::default());
    store.set_level(None, "NONE").unwrap();
    let v1 = r#"{"type":"record","name":"r","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}"#;
    let v2 = r#"{"type":"record","name":"r","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"extra","type":["null","int"],"default":null}]}"#;
    let v3 = r#"{"type":"record","name":"r","fields":[{"name":"id","type":"string"}]}"#;
    let ids: Vec<i32> = [v1, v2, v3]
        .iter()
        .map(|t| {
            store
                .register("e-value", &crate::sr::Schema::new(SchemaType::Avro, *t))
                .unwrap()
        })
        .collect();
    // Columns inferred from v1, as a stream created before v2 existed.
    let s = schema(&[("ID", SqlType::Bigint), ("NAME", SqlType::String)]);
    let spec = spec(Format::Avro, &store, "e-value");
    let frame = |id: i32, body: &[u8]| {
        let mut p = crate::format::avro::prefix(id).to_vec();
        p.extend_from_slice(body);
        p
    };
    // id 5, "a" / id 6, "b", extra = 7 / id "x"
    let r1 = frame(ids[0], &[10, 2, b'a']);
    let r2 = frame(ids[1], &[12, 2, b'b', 2, 14]);
    let r3 = frame(ids[2], &[2, b'x']);
    let decoded = registry::decoder(&spec, Part::Value, Arc::clone(&s))
        .unwrap()
        .decode(&[Some(&r1), Some(&r2), Some(&r3)])
        .unwrap();
    assert_eq!(
        json_of(&s, &decoded.columns)[..2],
        [r#"{"ID":5,"NAME":"a"}"#, r#"{"ID":6,"NAME":"b"}"#]
    );
    assert_eq!(decoded.errors.len(), 1);
    assert_eq!(decoded.errors[0].row, 2);
    assert!(
        decoded.errors[0].reason.contains("`id`") && decoded.errors[0].reason.contains("string"),
        "{}",
        decoded.errors[0].reason
    );
}

#[test]
fn avro_reads_connect_map_entries_unions_and_unwrapped_values() {
    let store = Arc::new(Store::default());
    let writer = r#"{"type":"record","name":"r","fields":[
        {"name":"m","type":{"type":"array","items":{"type":"record","name":"e",
            "connect.internal.type":"MapEntry","fields":[
            {"name":"key","type":"int"},{"name":"value","type":"string"}]}}},
        {"name":"u","type":["null","int","string"]}]}"#;
    let id = store
        .register("m-value", &crate::sr::Schema::new(SchemaType::Avro, writer))
        .unwrap();
    let columns = crate::format::infer_columns(
        Format::Avro,
        None,
        &store.by_id(id).unwrap(),
        true,
        true,
        None,
    )
    .unwrap();
    assert_eq!(
        SqlType::Struct(columns.clone()).to_string(),
        "STRUCT<`M` MAP<INTEGER, STRING>, `U` STRUCT<`INT` INTEGER, `STRING` STRING>>"
    );
    let s = schema(
        &columns
            .iter()
            .map(|(n, t)| (n.as_str(), t.clone()))
            .collect::<Vec<_>>(),
    );
    let spec = spec(Format::Avro, &store, "m-value");
    // m = {1: "a"}, u = "z" (branch 2)
    let mut payload = crate::format::avro::prefix(id).to_vec();
    payload.extend_from_slice(&[2, 2, 2, b'a', 0, 4, 2, b'z']);
    let decoded = registry::decoder(&spec, Part::Value, Arc::clone(&s))
        .unwrap()
        .decode(&[Some(&payload)])
        .unwrap();
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    let map_json = FormatSpec::new(Format::Json);
    let _ = map_json;
    assert_eq!(decoded.columns[0].data_type(), &columns[0].1.to_arrow());

    // A bare value (WRAP_SINGLE_VALUE=false) is the value's own type.
    let single = schema(&[("V", SqlType::Bigint)]);
    let unwrapped = FormatSpec {
        wrap_single_value: Some(false),
        ..spec.clone()
    };
    let mut other = unwrapped.clone();
    if let Some(sr) = other.sr.as_mut() {
        sr.subject = "bare-value".into();
    }
    let columns = columns_of(&single, &[r#"{"V":300}"#]);
    let encoded = registry::encoder(&other, Part::Value, Arc::clone(&single))
        .unwrap()
        .encode(&columns)
        .unwrap();
    assert_eq!(
        store.latest("bare-value").unwrap().unwrap().schema.text,
        r#"["null","long"]"#
    );
    // branch 1, zig-zag 300 = 600 = 0xd8 0x04
    assert_eq!(&encoded.get(0).unwrap()[5..], &[2, 0xd8, 0x04]);
    let _: &DataType = single.field(0).data_type();
}
