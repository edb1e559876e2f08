//! Tests of the JSON format: decoding, encoding, round trips, errors.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, LargeStringArray, ListArray, StringArray,
    StructArray,
};
use arrow::datatypes::{DataType, Field, Fields, Int32Type, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::format::{registry, Decoded, Encoded, Encoder, Format, FormatSpec, Part};
use crate::types::map_type;

fn schema(columns: &[(&str, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

fn spec(wrap: Option<bool>) -> FormatSpec {
    FormatSpec {
        wrap_single_value: wrap,
        ..FormatSpec::new(Format::Json)
    }
}

fn decode(spec: &FormatSpec, part: Part, schema: &SchemaRef, payloads: &[Option<&str>]) -> Decoded {
    let dec = registry::decoder(spec, part, Arc::clone(schema)).unwrap();
    let payloads: Vec<Option<&[u8]>> = payloads.iter().map(|p| p.map(str::as_bytes)).collect();
    let out = dec.decode(&payloads).unwrap();
    for (c, f) in out.columns.iter().zip(schema.fields()) {
        assert_eq!(c.data_type(), f.data_type());
        assert_eq!(c.len(), payloads.len());
    }
    out
}

fn encode(spec: &FormatSpec, part: Part, schema: &SchemaRef, columns: &[ArrayRef]) -> Encoded {
    registry::encoder(spec, part, Arc::clone(schema))
        .unwrap()
        .encode(columns)
        .unwrap()
}

/// Each row of the encoded batch as text, `None` for a null payload.
fn texts(encoded: &Encoded) -> Vec<Option<String>> {
    (0..encoded.len())
        .map(|i| {
            encoded
                .get(i)
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
        })
        .collect()
}

/// Cell `row` of `column` as Arrow displays it (nulls as `NULL`).
fn cell(column: &ArrayRef, row: usize) -> String {
    let options = FormatOptions::default().with_null("NULL");
    ArrayFormatter::try_new(column.as_ref(), &options)
        .unwrap()
        .value(row)
        .to_string()
}

fn row(decoded: &Decoded, row: usize) -> Vec<String> {
    decoded.columns.iter().map(|c| cell(c, row)).collect()
}

fn item(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

fn strukt(fields: &[(&str, DataType)]) -> DataType {
    DataType::Struct(
        fields
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Fields>(),
    )
}

fn every_type() -> SchemaRef {
    schema(&[
        ("B", DataType::Boolean),
        ("I", DataType::Int32),
        ("L", DataType::Int64),
        ("D", DataType::Float64),
        ("DEC", DataType::Decimal128(5, 2)),
        ("S", DataType::Utf8),
        ("BY", DataType::Binary),
        ("DT", DataType::Date32),
        ("T", DataType::Time32(TimeUnit::Millisecond)),
        ("TS", DataType::Timestamp(TimeUnit::Millisecond, None)),
        ("A", item(DataType::Int32)),
        ("M", map_type(DataType::Utf8, DataType::Float64)),
        (
            "ST",
            strukt(&[("X", DataType::Int32), ("Y", DataType::Utf8)]),
        ),
    ])
}

const EVERY_TYPE: &str = r#"{"b": true, "i": -7, "L": 9007199254740993, "d": 0.25,
    "dec": 12.5, "s": "snow ☃", "by": "AAEC", "dt": 19000, "t": 3600000,
    "ts": 1700000000123, "a": [1, null, 3], "m": {"x": 1.5, "y": null},
    "st": {"x": 4, "Y": "why"}}"#;

#[test]
fn decodes_every_type_case_insensitively() {
    let s = every_type();
    let out = decode(&spec(None), Part::Value, &s, &[Some(EVERY_TYPE)]);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        row(&out, 0),
        [
            "true",
            "-7",
            "9007199254740993",
            "0.25",
            "12.50",
            "snow ☃",
            "000102",
            "2022-01-08",
            "01:00:00",
            "2023-11-14T22:13:20.123",
            "[1, NULL, 3]",
            "{x: 1.5, y: NULL}",
            "{X: 4, Y: why}",
        ]
    );
}

#[test]
fn round_trips_every_type_in_schema_order() {
    let s = every_type();
    let out = decode(&spec(None), Part::Value, &s, &[Some(EVERY_TYPE), None]);
    let encoded = encode(&spec(None), Part::Value, &s, &out.columns);
    let expected = r#"{"B":true,"I":-7,"L":9007199254740993,"D":0.25,"DEC":12.50,"S":"snow ☃","BY":"AAEC","DT":19000,"T":3600000,"TS":1700000000123,"A":[1,null,3],"M":{"x":1.5,"y":null},"ST":{"X":4,"Y":"why"}}"#;
    let nulls = r#"{"B":null,"I":null,"L":null,"D":null,"DEC":null,"S":null,"BY":null,"DT":null,"T":null,"TS":null,"A":null,"M":null,"ST":null}"#;
    assert_eq!(
        texts(&encoded),
        [Some(expected.to_string()), Some(nulls.to_string())]
    );
    let again = decode(&spec(None), Part::Value, &s, &[Some(expected)]);
    assert_eq!(row(&again, 0), row(&out, 0));
}

#[test]
fn null_payloads_and_json_null_are_rows_of_nulls() {
    let s = schema(&[("A", DataType::Int32), ("B", DataType::Utf8)]);
    let out = decode(
        &spec(None),
        Part::Value,
        &s,
        &[None, Some(" null "), Some("{}")],
    );
    assert!(out.errors.is_empty());
    for r in 0..3 {
        assert_eq!(row(&out, r), ["NULL", "NULL"]);
    }
}

#[test]
fn members_match_exactly_before_upper_cased() {
    let s = schema(&[
        ("FOO", DataType::Int32),
        ("foo", DataType::Int32),
        ("BAR", DataType::Int32),
    ]);
    let out = decode(
        &spec(None),
        Part::Value,
        &s,
        &[
            // `foo` is exactly the quoted column and, upper-cased, FOO.
            Some(r#"{"foo": 1, "bar": 5}"#),
            // An exact FOO wins over an upper-cased foo, in either order.
            Some(r#"{"FOO": 2, "foo": 1}"#),
            Some(r#"{"foo": 1, "FOO": 2, "Bar": 6, "BAR": 7, "bAr": 8}"#),
            // A later duplicate replaces an earlier one, even one that
            // would not convert.
            Some(r#"{"BAR": 1, "BAR": {"x": [1]}, "BAR": 3}"#),
            Some(r#"{"BAR": 1, "BAR": {"x": [1]}}"#),
        ],
    );
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].row, 4);
    assert_eq!(
        out.errors[0].reason,
        "Can't convert JSON object to INTEGER, path: $.BAR"
    );
    assert_eq!(row(&out, 0), ["1", "1", "5"]);
    assert_eq!(row(&out, 1), ["2", "1", "NULL"]);
    assert_eq!(row(&out, 2), ["2", "1", "7"]);
    assert_eq!(row(&out, 3), ["NULL", "NULL", "3"]);
}

#[test]
fn nested_struct_fields_match_case_insensitively() {
    let inner = strukt(&[("CITY", DataType::Utf8), ("ZIP", DataType::Int32)]);
    let s = schema(&[
        ("ADDR", strukt(&[("HOME", inner.clone())])),
        ("N", DataType::Int32),
    ]);
    let out = decode(
        &spec(None),
        Part::Value,
        &s,
        &[Some(
            r#"{"extra": {"deep": [[{}], "x"]}, "addr": {"Home": {"zip": 123, "city": "Oslo", "more": 1}}, "n": 1}"#,
        )],
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(row(&out, 0), ["{HOME: {CITY: Oslo, ZIP: 123}}", "1"]);
}

#[test]
fn bad_records_are_row_errors_that_name_the_path() {
    let s = schema(&[
        ("A", item(DataType::Int32)),
        ("S", strukt(&[("X", DataType::Boolean)])),
        ("M", map_type(DataType::Utf8, DataType::Int64)),
    ]);
    let payloads = [
        Some(r#"{"A": [1, 2]}"#),
        Some(r#"{"A": [1, "x"]}"#),
        Some(r#"{"s": {"x": 1}}"#),
        Some(r#"{"m": {"k": []}}"#),
        Some(r#"{"A": [1, 2"#),
        Some(r#"{"A": [3]} trailing"#),
        Some(r#"{"A": 5}"#),
        Some(""),
        Some(r#"{"A": [4]}"#),
    ];
    let out = decode(&spec(None), Part::Value, &s, &payloads);
    let reasons: Vec<_> = out
        .errors
        .iter()
        .map(|e| (e.row, e.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (1, "Can't coerce JSON string to INTEGER: not a number, path: $.A[1]"),
            (2, "Can't convert JSON number to BOOLEAN, path: $.S.X"),
            (3, "Can't convert JSON array to BIGINT, path: $.M['k']"),
            (4, "Invalid JSON at byte 11: expected ',' or ']', found end of input, path: $.A"),
            (5, "Invalid JSON at byte 11: expected the end of the record after the JSON value, found 't', path: $"),
            (6, "Can't convert JSON number to ARRAY<INTEGER>, path: $.A"),
            (7, "Invalid JSON at byte 0: expected a JSON value, found end of input, path: $"),
        ]
    );
    // Good rows around bad ones are intact; bad rows are all null.
    assert_eq!(cell(&out.columns[0], 0), "[1, 2]");
    assert_eq!(cell(&out.columns[0], 8), "[4]");
    for r in 1..8 {
        assert_eq!(row(&out, r), ["NULL", "NULL", "NULL"], "row {r}");
    }
    let list = out.columns[0].as_list::<i32>();
    assert_eq!(list.values().len(), 3, "rolled-back elements are gone");
}

#[test]
fn scalars_are_coerced_like_ksqldb() {
    let s = schema(&[
        ("I", DataType::Int32),
        ("L", DataType::Int64),
        ("D", DataType::Float64),
        ("DEC", DataType::Decimal128(38, 10)),
        ("S", DataType::Utf8),
        ("TS", DataType::Timestamp(TimeUnit::Millisecond, None)),
        ("DT", DataType::Date32),
    ]);
    let out = decode(
        &spec(None),
        Part::Value,
        &s,
        &[
            Some(
                r#"{"I": "42", "L": "-5", "D": "1.5", "DEC": "-0.5", "S": 12.50, "TS": "1000", "DT": "3"}"#,
            ),
            Some(
                r#"{"I": 9.99, "L": 2e3, "D": 7, "DEC": 1234567890123456789012345678.0123456789, "S": true, "TS": 5, "DT": -1}"#,
            ),
            Some(r#"{"S": {"a" : [1, {"b":"c d"}]}, "D": "NaN"}"#),
            Some(r#"{"S": [1, "two", null, [true], {"k": 1}]}"#),
        ],
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        row(&out, 0),
        [
            "42",
            "-5",
            "1.5",
            "-0.5000000000",
            "12.50",
            "1970-01-01T00:00:01",
            "1970-01-04"
        ]
    );
    assert_eq!(
        row(&out, 1),
        [
            "9",
            "2000",
            "7.0",
            "1234567890123456789012345678.0123456789",
            "true",
            "1970-01-01T00:00:00.005",
            "1969-12-31"
        ]
    );
    assert_eq!(cell(&out.columns[4], 2), r#"{"a":[1,{"b":"c d"}]}"#);
    assert_eq!(cell(&out.columns[2], 2), "NaN");
    assert_eq!(
        cell(&out.columns[4], 3),
        r#"[1, two, null, [true], {"k":1}]"#
    );
}

#[test]
fn conversions_that_lose_data_are_errors() {
    let s = schema(&[
        ("I", DataType::Int32),
        ("DEC", DataType::Decimal128(4, 2)),
        ("B", DataType::Boolean),
        ("T", DataType::Time32(TimeUnit::Millisecond)),
        ("BY", DataType::Binary),
    ]);
    let out = decode(
        &spec(None),
        Part::Value,
        &s,
        &[
            Some(r#"{"I": 2147483648}"#),
            Some(r#"{"DEC": 1.234}"#),
            Some(r#"{"DEC": "100"}"#),
            Some(r#"{"B": "true"}"#),
            Some(r#"{"T": 86400000}"#),
            Some(r#"{"BY": "not base64!"}"#),
            Some(r#"{"I": "4.5"}"#),
        ],
    );
    let reasons: Vec<_> = out.errors.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons.len(), 7, "{reasons:?}");
    assert_eq!(
        reasons[0],
        "JSON number out of range for INTEGER, path: $.I"
    );
    assert_eq!(
        reasons[1],
        "Cannot fit decimal '1.234' into DECIMAL(4, 2) without rounding, path: $.DEC"
    );
    assert!(
        reasons[2].starts_with("Numeric field overflow"),
        "{}",
        reasons[2]
    );
    assert_eq!(
        reasons[3],
        "Can't convert JSON string to BOOLEAN, path: $.B"
    );
    assert!(reasons[4].starts_with("TIME must be milliseconds of the day"));
    assert!(reasons[5].starts_with("Value is not a valid Base64 encoded string"));
    assert!(reasons[5].ends_with("path: $.BY"));
    assert_eq!(
        reasons[6],
        "Can't coerce JSON string to INTEGER: not a number, path: $.I"
    );
}

#[test]
fn single_columns_wrap_by_part_and_option() {
    let one = schema(&[("V", DataType::Utf8)]);
    // Values: wrapped by default.
    let out = decode(
        &spec(None),
        Part::Value,
        &one,
        &[Some(r#"{"v": "a"}"#), Some(r#""b""#)],
    );
    assert_eq!(cell(&out.columns[0], 0), "a");
    assert_eq!(out.errors.len(), 1);
    assert!(out.errors[0].reason.contains("set WRAP_SINGLE_VALUE=false"));
    // Values, unwrapped: the bare value; an object becomes its text.
    let out = decode(
        &spec(Some(false)),
        Part::Value,
        &one,
        &[Some(r#""b""#), Some(r#"{"V":1}"#), Some("null")],
    );
    assert!(out.errors.is_empty());
    assert_eq!(row(&out, 0), ["b"]);
    assert_eq!(row(&out, 1), [r#"{"V":1}"#]);
    assert_eq!(row(&out, 2), ["NULL"]);
    // Keys: unwrapped by default, wrapped on request.
    let out = decode(&spec(None), Part::Key, &one, &[Some(r#""k""#)]);
    assert_eq!(row(&out, 0), ["k"]);
    let out = decode(&spec(Some(true)), Part::Key, &one, &[Some(r#"{"V": "k"}"#)]);
    assert_eq!(row(&out, 0), ["k"]);

    let column: ArrayRef = Arc::new(StringArray::from(vec![Some("x\"y"), None]));
    let columns = [column];
    let t = |spec, part| texts(&encode(&spec, part, &one, &columns));
    assert_eq!(
        t(spec(None), Part::Value),
        [Some(r#"{"V":"x\"y"}"#.into()), Some(r#"{"V":null}"#.into())]
    );
    assert_eq!(
        t(spec(Some(false)), Part::Value),
        [Some(r#""x\"y""#.into()), None]
    );
    assert_eq!(t(spec(None), Part::Key), [Some(r#""x\"y""#.into()), None]);
    assert_eq!(
        t(spec(Some(true)), Part::Key),
        [Some(r#"{"V":"x\"y"}"#.into()), None]
    );
}

#[test]
fn multi_column_keys_are_objects() {
    let s = schema(&[("K1", DataType::Utf8), ("K2", DataType::Int32)]);
    let out = decode(
        &spec(None),
        Part::Key,
        &s,
        &[Some(r#"{"k1": "a", "K2": 1}"#), None],
    );
    assert_eq!(row(&out, 0), ["a", "1"]);
    assert_eq!(row(&out, 1), ["NULL", "NULL"]);
    // A key of several columns is always written whole; a query that
    // passes a null key through wraps the encoder in `NullWhenAllNull`.
    let encoded = encode(&spec(None), Part::Key, &s, &out.columns);
    assert_eq!(
        texts(&encoded),
        [
            Some(r#"{"K1":"a","K2":1}"#.into()),
            Some(r#"{"K1":null,"K2":null}"#.into())
        ]
    );
    let registry_encoder =
        crate::format::registry::encoder(&spec(None), Part::Key, Arc::clone(&s)).unwrap();
    let passed_through = crate::format::NullWhenAllNull(registry_encoder)
        .encode(&out.columns)
        .unwrap();
    assert_eq!(
        texts(&passed_through),
        [Some(r#"{"K1":"a","K2":1}"#.into()), None]
    );
}

#[test]
fn strings_escape_and_unescape() {
    let s = schema(&[("S", DataType::Utf8)]);
    let text = r#"{"S": "q\" b\\ n\n t\t u\u00e9 \ud83d\ude00 \/ c\u0001"}"#;
    let out = decode(&spec(None), Part::Value, &s, &[Some(text)]);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.columns[0].as_string::<i32>().value(0),
        "q\" b\\ n\n t\t ué 😀 / c\u{1}"
    );
    let encoded = encode(&spec(None), Part::Value, &s, &out.columns);
    assert_eq!(
        texts(&encoded)[0].as_deref(),
        Some(r#"{"S":"q\" b\\ n\n t\t ué 😀 / c\u0001"}"#)
    );
}

#[test]
fn doubles_are_written_as_java_does() {
    let s = schema(&[("D", DataType::Float64)]);
    let column: ArrayRef = Arc::new(Float64Array::from(vec![
        1e10,
        100.0,
        0.5,
        f64::NAN,
        f64::INFINITY,
    ]));
    let encoded = encode(&spec(Some(false)), Part::Value, &s, &[column]);
    let t: Vec<_> = texts(&encoded).into_iter().flatten().collect();
    assert_eq!(t, ["1.0E10", "100.0", "0.5", r#""NaN""#, r#""Infinity""#]);
    let payloads: Vec<_> = t.iter().map(|x| Some(x.as_str())).collect();
    let back = decode(&spec(Some(false)), Part::Value, &s, &payloads);
    assert!(back.errors.is_empty());
    assert_eq!(cell(&back.columns[0], 0), "10000000000.0");
    assert_eq!(cell(&back.columns[0], 4), "inf");
}

#[test]
fn encoder_casts_other_arrow_types_and_reads_slices() {
    let s = schema(&[("S", DataType::Utf8), ("A", item(DataType::Int32))]);
    let strings: ArrayRef = Arc::new(LargeStringArray::from(vec!["a", "b", "c"]));
    let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1)]),
        Some(vec![Some(2), Some(3)]),
        None,
    ]));
    let encoded = encode(
        &spec(None),
        Part::Value,
        &s,
        &[strings.slice(1, 2), lists.slice(1, 2)],
    );
    assert_eq!(
        texts(&encoded),
        [
            Some(r#"{"S":"b","A":[2,3]}"#.into()),
            Some(r#"{"S":"c","A":null}"#.into())
        ]
    );
    let st: ArrayRef = Arc::new(StructArray::from(vec![(
        Arc::new(Field::new("X", DataType::Int32, true)),
        Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef,
    )]));
    let s2 = schema(&[("ST", strukt(&[("X", DataType::Int32)]))]);
    let encoded = encode(&spec(None), Part::Value, &s2, &[st.slice(2, 1)]);
    assert_eq!(texts(&encoded), [Some(r#"{"ST":{"X":3}}"#.into())]);
}

#[test]
fn deep_or_long_input_never_panics() {
    let s = schema(&[("S", DataType::Utf8), ("I", DataType::Int32)]);
    let deep_array = format!(r#"{{"S": {}}}"#, "[".repeat(10_000));
    let deep_skip = format!(r#"{{"X": {}}}"#, "[".repeat(10_000));
    let out = decode(
        &spec(None),
        Part::Value,
        &s,
        &[
            Some(&deep_array),
            Some(&deep_skip),
            Some("\u{0}"),
            Some("{\"I\": -}"),
        ],
    );
    assert_eq!(out.errors.len(), 4);
    assert!(out.errors[0].reason.contains("nested deeper"));
}

#[test]
fn validation_follows_ksqldb() {
    let err = |spec: &FormatSpec, part, s: &SchemaRef| {
        registry::validate(spec, part, s).unwrap_err().to_string()
    };
    let int_keys = schema(&[("M", item(map_type(DataType::Int32, DataType::Utf8)))]);
    assert!(err(&spec(None), Part::Value, &int_keys)
        .starts_with("JSON only supports MAP types with STRING keys"));
    let two = schema(&[("A", DataType::Int32), ("B", DataType::Int32)]);
    assert_eq!(
        err(&spec(Some(false)), Part::Value, &two),
        "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"
    );
    let with_delimiter = FormatSpec {
        delimiter: Some('|'),
        ..spec(None)
    };
    assert_eq!(
        err(&with_delimiter, Part::Value, &two),
        "JSON does not support the following configs: [delimiter]"
    );
    registry::validate(&spec(None), Part::Value, &every_type()).unwrap();
    registry::validate(
        &spec(Some(false)),
        Part::Value,
        &schema(&[("A", DataType::Int32)]),
    )
    .unwrap();
}

#[test]
fn no_columns_ignore_payloads() {
    let empty = Arc::new(Schema::empty());
    let out = decode(&spec(None), Part::Key, &empty, &[Some("not json"), None]);
    assert!(out.columns.is_empty() && out.errors.is_empty());
}

/// Every truncation and many byte flips of a rich record: decoding must
/// never panic, and every row is either decoded or reported.
#[test]
fn mangled_records_never_panic() {
    let s = every_type();
    let base = EVERY_TYPE.as_bytes();
    let mut mangled: Vec<Vec<u8>> = (0..base.len()).map(|i| base[..i].to_vec()).collect();
    let mut seed: u32 = 12345;
    for _ in 0..2000 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let mut m = base.to_vec();
        let at = (seed as usize >> 8) % m.len();
        m[at] = (seed >> 16) as u8;
        mangled.push(m);
    }
    let payloads: Vec<Option<&[u8]>> = mangled.iter().map(|m| Some(m.as_slice())).collect();
    for spec in [spec(None), spec(Some(false))] {
        for part in [Part::Key, Part::Value] {
            let dec = registry::decoder(&spec, part, Arc::clone(&s)).unwrap();
            let out = dec.decode(&payloads).unwrap();
            assert!(out.columns.iter().all(|c| c.len() == payloads.len()));
            for e in &out.errors {
                assert!(out.columns.iter().all(|c| c.is_null(e.row)));
            }
        }
    }
}
