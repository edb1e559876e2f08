//! ksqlDB type syntax: `INT`, `DECIMAL(4, 2)`, `ARRAY<T>`, `MAP<K, V>`,
//! `STRUCT<name T, …>` and custom type names.
//!
//! Types are parsed into sqlparser [`DataType`]s (so that they can sit inside
//! `CAST` expressions), in one canonical form per [`SqlType`]; custom names
//! stay [`DataType::Custom`] until [`to_sql_type`] resolves them.

use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, DataType, ExactNumberInfo, Ident, ObjectName, ObjectNamePart,
    StructBracketKind, StructField, TimezoneInfo,
};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location as SpLocation, Token};

use crate::error::{Error, Location, Result};
use crate::types::SqlType;

/// How deeply ARRAY/MAP/STRUCT may nest in one type.
const MAX_DEPTH: usize = 64;

/// The largest DECIMAL precision.
const MAX_DECIMAL_PRECISION: u64 = 38;

/// Parses one type at the parser's position.
pub(crate) fn parse_type(parser: &mut Parser) -> Result<DataType, ParserError> {
    parse_type_at_depth(parser, 0)
}

fn error_at(message: impl std::fmt::Display, location: SpLocation) -> ParserError {
    ParserError::ParserError(format!("{message}{location}"))
}

fn parse_type_at_depth(parser: &mut Parser, depth: usize) -> Result<DataType, ParserError> {
    let token = parser.next_token();
    if depth > MAX_DEPTH {
        return Err(error_at("Type is nested too deeply", token.span.start));
    }
    let word = match &token.token {
        Token::Word(w) => w.clone(),
        _ => return parser.expected("a type", token),
    };
    if word.quote_style.is_some() {
        return Ok(custom(&word.value, token.span));
    }
    Ok(match word.value.to_ascii_uppercase().as_str() {
        "BOOLEAN" => DataType::Boolean,
        "INT" | "INTEGER" => DataType::Int(None),
        "BIGINT" => DataType::BigInt(None),
        "DOUBLE" => DataType::Double(ExactNumberInfo::None),
        "STRING" => DataType::String(None),
        "VARCHAR" => {
            // ksqlDB's grammar takes `(STRING)` or a length after VARCHAR
            // and ignores it.
            if parser.consume_token(&Token::LParen) {
                let param = parser.next_token();
                match &param.token {
                    Token::Number(..) => {}
                    Token::Word(w) if w.value.eq_ignore_ascii_case("STRING") => {}
                    _ => return parser.expected("STRING or a length", param),
                }
                parser.expect_token(&Token::RParen)?;
            }
            DataType::String(None)
        }
        "BYTES" => DataType::Bytea,
        "DATE" => DataType::Date,
        "TIME" => DataType::Time(None, TimezoneInfo::None),
        "TIMESTAMP" => DataType::Timestamp(Some(3), TimezoneInfo::None),
        "DECIMAL" => {
            parser.expect_token(&Token::LParen)?;
            let precision = parse_u64(parser)?;
            parser.expect_token(&Token::Comma)?;
            let scale = parse_u64(parser)?;
            parser.expect_token(&Token::RParen)?;
            let text = format!("DECIMAL({precision}, {scale})");
            if !(1..=MAX_DECIMAL_PRECISION).contains(&precision) {
                return Err(error_at(
                    format!("DECIMAL precision must be between 1 and 38: {text}"),
                    token.span.start,
                ));
            }
            if scale > precision {
                return Err(error_at(
                    format!("DECIMAL scale must not be greater than its precision: {text}"),
                    token.span.start,
                ));
            }
            // Both fit: precision <= 38, scale <= precision.
            DataType::Decimal(ExactNumberInfo::PrecisionAndScale(precision, scale as i64))
        }
        "ARRAY" => {
            parser.expect_token(&Token::Lt)?;
            let item = parse_type_at_depth(parser, depth + 1)?;
            parser.expect_token(&Token::Gt)?;
            DataType::Array(ArrayElemTypeDef::AngleBracket(Box::new(item)))
        }
        "MAP" => {
            parser.expect_token(&Token::Lt)?;
            let key = parse_type_at_depth(parser, depth + 1)?;
            parser.expect_token(&Token::Comma)?;
            let value = parse_type_at_depth(parser, depth + 1)?;
            parser.expect_token(&Token::Gt)?;
            DataType::Map(Box::new(key), Box::new(value))
        }
        "STRUCT" => {
            // `STRUCT<>` tokenizes as `STRUCT` `<>`.
            if parser.consume_token(&Token::Neq) {
                return Ok(DataType::Struct(vec![], StructBracketKind::AngleBrackets));
            }
            parser.expect_token(&Token::Lt)?;
            let mut fields = Vec::new();
            if !parser.consume_token(&Token::Gt) {
                loop {
                    let name_token = parser.next_token();
                    let name = match &name_token.token {
                        Token::Word(w) => Ident {
                            value: normalize(&w.value, w.quote_style),
                            quote_style: Some('`'),
                            span: name_token.span,
                        },
                        _ => return parser.expected("a struct field name", name_token),
                    };
                    let field_type = parse_type_at_depth(parser, depth + 1)?;
                    fields.push(StructField {
                        field_name: Some(name),
                        field_type,
                        options: None,
                    });
                    if parser.consume_token(&Token::Gt) {
                        break;
                    }
                    parser.expect_token(&Token::Comma)?;
                }
            }
            DataType::Struct(fields, StructBracketKind::AngleBrackets)
        }
        _ => custom(&word.value.to_uppercase(), token.span),
    })
}

fn custom(name: &str, span: datafusion::sql::sqlparser::tokenizer::Span) -> DataType {
    DataType::Custom(
        ObjectName::from(vec![Ident {
            value: name.to_string(),
            quote_style: None,
            span,
        }]),
        vec![],
    )
}

fn parse_u64(parser: &mut Parser) -> Result<u64, ParserError> {
    let token = parser.next_token();
    match &token.token {
        Token::Number(n, _) => match n.parse::<u64>() {
            Ok(v) => Ok(v),
            Err(_) => parser.expected("an integer", token),
        },
        _ => parser.expected("an integer", token),
    }
}

/// Unquoted names are upper-cased; quoted ones are kept as written.
pub(crate) fn normalize(value: &str, quote_style: Option<char>) -> String {
    match quote_style {
        None => value.to_uppercase(),
        Some(_) => value.to_string(),
    }
}

/// Converts a parsed type to a [`SqlType`], resolving custom type names
/// with `resolve` (which gets the upper-cased name).
///
/// Besides the canonical forms the type parser produces, this accepts the
/// obvious sqlparser spellings (`INTEGER`, `VARCHAR(n)`, `TEXT`, …), so it
/// also serves types that came from elsewhere.
pub fn to_sql_type(
    data_type: &DataType,
    resolve: &dyn Fn(&str) -> Option<SqlType>,
) -> Result<SqlType> {
    Ok(match data_type {
        DataType::Boolean | DataType::Bool => SqlType::Boolean,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int32 => SqlType::Int,
        DataType::BigInt(_) | DataType::Int64 => SqlType::Bigint,
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float64 => SqlType::Double,
        DataType::Decimal(ExactNumberInfo::PrecisionAndScale(p, s)) => {
            match (u8::try_from(*p), i8::try_from(*s)) {
                (Ok(p), Ok(s)) => SqlType::Decimal(p, s),
                _ => return Err(Error::user(format!("Invalid type: {data_type}"))),
            }
        }
        DataType::String(_) | DataType::Varchar(_) | DataType::Text => SqlType::String,
        DataType::Bytea | DataType::Bytes(_) => SqlType::Bytes,
        DataType::Date => SqlType::Date,
        DataType::Time(_, _) => SqlType::Time,
        DataType::Timestamp(_, _) => SqlType::Timestamp,
        DataType::Array(
            ArrayElemTypeDef::AngleBracket(item)
            | ArrayElemTypeDef::SquareBracket(item, _)
            | ArrayElemTypeDef::Parenthesis(item),
        ) => SqlType::Array(Box::new(to_sql_type(item, resolve)?)),
        DataType::Map(key, value) => SqlType::Map(
            Box::new(to_sql_type(key, resolve)?),
            Box::new(to_sql_type(value, resolve)?),
        ),
        DataType::Struct(fields, _) => SqlType::Struct(
            fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = match &f.field_name {
                        Some(ident) => ident.value.clone(),
                        None => format!("F{i}"),
                    };
                    Ok((name, to_sql_type(&f.field_type, resolve)?))
                })
                .collect::<Result<_>>()?,
        ),
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            let (ident, text) = match name.0.as_slice() {
                [ObjectNamePart::Identifier(ident)] => (Some(ident), ident.value.clone()),
                _ => (None, name.to_string()),
            };
            match resolve(&text) {
                Some(t) => t,
                None => {
                    let message = format!("Unknown type: {text}");
                    return Err(match ident {
                        Some(ident) if ident.span.start.line > 0 => Error::user_at(
                            format!(
                                "line {}:{}: {message}",
                                ident.span.start.line, ident.span.start.column
                            ),
                            Location {
                                line: ident.span.start.line,
                                column: ident.span.start.column,
                            },
                        ),
                        _ => Error::user(message),
                    });
                }
            }
        }
        other => return Err(Error::user(format!("Unsupported type: {other}"))),
    })
}

/// Converts a type without custom names (e.g. the type of a planned `CAST`)
/// to a [`SqlType`].
pub fn sql_type_of(data_type: &DataType) -> Result<SqlType> {
    to_sql_type(data_type, &|_| None)
}

/// The canonical sqlparser spelling of a [`SqlType`], as used in `CAST`
/// expressions after parsing. `TIMESTAMP` carries precision 3
/// (milliseconds); struct field names are quoted, so they survive any
/// identifier normalization.
pub fn to_data_type(sql_type: &SqlType) -> DataType {
    match sql_type {
        SqlType::Boolean => DataType::Boolean,
        SqlType::Int => DataType::Int(None),
        SqlType::Bigint => DataType::BigInt(None),
        SqlType::Double => DataType::Double(ExactNumberInfo::None),
        SqlType::Decimal(p, s) => DataType::Decimal(ExactNumberInfo::PrecisionAndScale(
            u64::from(*p),
            i64::from(*s),
        )),
        SqlType::String => DataType::String(None),
        SqlType::Bytes => DataType::Bytea,
        SqlType::Date => DataType::Date,
        SqlType::Time => DataType::Time(None, TimezoneInfo::None),
        SqlType::Timestamp => DataType::Timestamp(Some(3), TimezoneInfo::None),
        SqlType::Array(item) => {
            DataType::Array(ArrayElemTypeDef::AngleBracket(Box::new(to_data_type(item))))
        }
        SqlType::Map(k, v) => DataType::Map(Box::new(to_data_type(k)), Box::new(to_data_type(v))),
        SqlType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|(name, t)| StructField {
                    field_name: Some(Ident::with_quote('`', name.clone())),
                    field_type: to_data_type(t),
                    options: None,
                })
                .collect(),
            StructBracketKind::AngleBrackets,
        ),
    }
}

/// Resolves custom type names inside a parsed type, giving back the
/// canonical form.
pub(crate) fn resolve_data_type(
    data_type: &DataType,
    resolve: &dyn Fn(&str) -> Option<SqlType>,
) -> Result<DataType> {
    Ok(to_data_type(&to_sql_type(data_type, resolve)?))
}

#[cfg(test)]
mod tests {
    use super::super::parse_data_type;
    use super::*;

    fn parse(s: &str) -> SqlType {
        match parse_data_type(s) {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_primitive_types() {
        assert_eq!(parse("BOOLEAN"), SqlType::Boolean);
        assert_eq!(parse("int"), SqlType::Int);
        assert_eq!(parse("Integer"), SqlType::Int);
        assert_eq!(parse("BIGINT"), SqlType::Bigint);
        assert_eq!(parse("DOUBLE"), SqlType::Double);
        assert_eq!(parse("DECIMAL(10, 3)"), SqlType::Decimal(10, 3));
        assert_eq!(parse("string"), SqlType::String);
        assert_eq!(parse("VARCHAR(STRING)"), SqlType::String);
        assert_eq!(parse("VARCHAR(10)"), SqlType::String);
        assert!(parse_data_type("VARCHAR(KEY)").is_err());
        assert_eq!(parse("VARCHAR"), SqlType::String);
        assert_eq!(parse("BYTES"), SqlType::Bytes);
        assert_eq!(parse("DATE"), SqlType::Date);
        assert_eq!(parse("TIME"), SqlType::Time);
        assert_eq!(parse("TIMESTAMP"), SqlType::Timestamp);
    }

    #[test]
    fn parses_nested_types_with_closing_shift_tokens() {
        assert_eq!(
            parse("ARRAY<ARRAY<INT>>"),
            SqlType::Array(Box::new(SqlType::Array(Box::new(SqlType::Int))))
        );
        assert_eq!(
            parse("MAP<STRING, STRUCT<lower INT, `Mixed` ARRAY<BIGINT>>>"),
            SqlType::Map(
                Box::new(SqlType::String),
                Box::new(SqlType::Struct(vec![
                    ("LOWER".into(), SqlType::Int),
                    ("Mixed".into(), SqlType::Array(Box::new(SqlType::Bigint))),
                ]))
            )
        );
        assert_eq!(parse("STRUCT<>"), SqlType::Struct(vec![]));
        assert_eq!(parse("STRUCT< >"), SqlType::Struct(vec![]));
        assert_eq!(
            parse("STRUCT<key STRING, value BYTES>"),
            SqlType::Struct(vec![
                ("KEY".into(), SqlType::String),
                ("VALUE".into(), SqlType::Bytes)
            ])
        );
    }

    #[test]
    fn round_trips_through_data_type() {
        let t = parse("STRUCT<A DECIMAL(4, 2), `b` MAP<STRING, ARRAY<TIMESTAMP>>, C TIME>");
        assert_eq!(sql_type_of(&to_data_type(&t)).ok(), Some(t));
    }

    #[test]
    fn rejects_bad_types() {
        let err = |s: &str| match parse_data_type(s) {
            Ok(t) => panic!("{s} parsed as {t}"),
            Err(e) => e.to_string(),
        };
        assert!(err("DECIMAL(0, 0)").contains("precision must be between 1 and 38"));
        assert!(err("DECIMAL(39, 2)").contains("precision"));
        assert!(err("DECIMAL(2, 3)").contains("scale"));
        assert_eq!(
            err("DECIMAL"),
            "line 1:8: Syntax error at end of input: expected '('"
        );
        assert_eq!(err("ADDRESS"), "line 1:1: Unknown type: ADDRESS");
        assert!(err("ARRAY<INT").contains("expected '>'"));
        assert!(err("MAP<STRING>").contains("expected ','"));
        assert!(err("INT INT").contains("expected end of input"));
        let deep = format!("{}INT{}", "ARRAY<".repeat(200), ">".repeat(200));
        assert!(err(&deep).contains("nested too deeply"));
    }
}
