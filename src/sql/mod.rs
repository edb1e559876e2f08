//! The ksqlDB-dialect front end: SQL text to [`ast::Statement`]s.
//!
//! Built on sqlparser's tokenizer and expression parser; everything ksqlDB
//! adds (CREATE STREAM … WITH, EMIT CHANGES, WINDOW, PARTITION BY, PRINT,
//! SHOW, …) is parsed here. Errors carry line and column.
//!
//! * [`parser`]: statements ([`parse`], [`parse_with`]) and expressions.
//! * [`properties`]: WITH clauses as typed settings.
//! * [`variables`]: `${name}` substitution.

pub mod ast;
pub mod parser;
pub mod properties;
pub mod variables;

pub use parser::{parse, parse_with, ParseContext, TypeResolver};
