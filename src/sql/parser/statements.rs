//! Every ksqlDB statement but the SELECT body ([`super::query`]).

use datafusion::sql::sqlparser::tokenizer::Token;

use super::cursor::Cursor;
use super::query::parse_query;
use crate::error::{Error, Result};
use crate::sql::ast::{
    ColumnConstraint, ColumnDef, CreateAsSelect, CreateSource, Describe, DescribeTarget, Drop,
    Explain, InsertSelect, InsertValues, ParsedStatement, Print, Properties, Property,
    PropertyValue, Show, ShowTarget, SourceKind, Statement, Terminate,
};

/// The statements a request may start with, for "expected" messages.
const STATEMENTS: &str = "a statement: SELECT, CREATE, INSERT, DROP, ALTER, SHOW, LIST, \
                          DESCRIBE, EXPLAIN, TERMINATE, PRINT, SET, UNSET, DEFINE, UNDEFINE \
                          or RUN SCRIPT";

/// Parses one whole statement (its tokens end where the statement ends).
pub(super) fn parse_statement(c: &mut Cursor<'_>) -> Result<Statement> {
    let statement = statement(c, true)?;
    c.expect_end()?;
    Ok(statement)
}

fn statement(c: &mut Cursor<'_>, explain_allowed: bool) -> Result<Statement> {
    let word = match &c.peek().token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        _ => return Err(c.expected(STATEMENTS)),
    };
    match word.as_str() {
        "SELECT" => {
            c.set_kind("SELECT");
            Ok(Statement::Query(Box::new(parse_query(c)?)))
        }
        "CREATE" => create(c),
        "INSERT" => insert(c),
        "SHOW" | "LIST" => show(c),
        "DESCRIBE" => describe(c),
        "EXPLAIN" if explain_allowed => explain(c),
        "TERMINATE" => terminate(c),
        "DROP" => drop(c),
        "PRINT" => print(c),
        "SET" => set(c),
        "UNSET" => {
            c.next();
            c.set_kind("UNSET");
            let name = c.string("a property name in quotes, e.g. 'auto.offset.reset'")?;
            Ok(Statement::UnsetProperty { name })
        }
        "DEFINE" => {
            c.next();
            c.set_kind("DEFINE");
            let name = c.raw_ident("a variable name")?;
            c.expect(&Token::Eq)?;
            let value = c.string("a value in quotes")?;
            Ok(Statement::Define { name, value })
        }
        "UNDEFINE" => {
            c.next();
            c.set_kind("UNDEFINE");
            let name = c.raw_ident("a variable name")?;
            Ok(Statement::Undefine { name })
        }
        "ALTER" => alter(c),
        "RUN" => {
            c.next();
            c.set_kind("RUN SCRIPT");
            c.expect_kw("SCRIPT")?;
            let path = c.string("a file name in quotes")?;
            Ok(Statement::RunScript { path })
        }
        "ASSERT" => assert(c),
        "PAUSE" | "RESUME" | "SPOOL" => Err(unsupported(c, &word)),
        _ => Err(c.expected(STATEMENTS)),
    }
}

/// An error for a ksqlDB statement sluice does not run.
fn unsupported(c: &Cursor<'_>, what: &str) -> Error {
    let at = c.location();
    c.error_at(at, format!("{what} statements are not supported by sluice"))
}

fn source_kind(c: &mut Cursor<'_>) -> Result<SourceKind> {
    if c.eat_kw("STREAM") {
        Ok(SourceKind::Stream)
    } else if c.eat_kw("TABLE") {
        Ok(SourceKind::Table)
    } else {
        Err(c.expected("STREAM or TABLE"))
    }
}

fn create(c: &mut Cursor<'_>) -> Result<Statement> {
    c.expect_kw("CREATE")?;
    c.set_kind("CREATE");
    let or_replace = c.eat_kws(&["OR", "REPLACE"]);
    if !or_replace && c.is_kw(0, "TYPE") {
        return create_type(c);
    }
    let source_at = c.location();
    let is_source = c.eat_kw("SOURCE");
    if c.is_kw(0, "CONNECTOR") || (c.is_kw(0, "SINK") && c.is_kw(1, "CONNECTOR")) {
        return Err(unsupported(c, "CONNECTOR"));
    }
    let kind = source_kind(c)?;
    c.set_kind(match kind {
        SourceKind::Stream => "CREATE STREAM",
        SourceKind::Table => "CREATE TABLE",
    });
    let if_not_exists = c.eat_kws(&["IF", "NOT", "EXISTS"]);
    let (name, _) = c.ident("a stream or table name")?;
    let columns_at = c.location();
    let columns = if c.peek().token == Token::LParen {
        Some(table_elements(c, kind)?)
    } else {
        None
    };
    let properties = if c.eat_kw("WITH") {
        properties(c)?
    } else {
        Properties::default()
    };
    if !c.eat_kw("AS") {
        return Ok(Statement::CreateSource(CreateSource {
            kind,
            or_replace,
            if_not_exists,
            is_source,
            name,
            columns: columns.unwrap_or_default(),
            properties,
        }));
    }
    c.set_kind(match kind {
        SourceKind::Stream => "CREATE STREAM AS SELECT",
        SourceKind::Table => "CREATE TABLE AS SELECT",
    });
    if is_source {
        return Err(c.error_at(
            source_at,
            "CREATE SOURCE STREAM|TABLE cannot have AS SELECT; SOURCE only applies to \
             sources declared with columns over an existing topic",
        ));
    }
    if columns.is_some() {
        return Err(c.error_at(
            columns_at,
            "A CREATE … AS SELECT statement cannot declare columns: they come from the query",
        ));
    }
    if !c.is_kw(0, "SELECT") {
        return Err(c.expected("SELECT"));
    }
    let query = Box::new(parse_query(c)?);
    Ok(Statement::CreateAsSelect(CreateAsSelect {
        kind,
        or_replace,
        if_not_exists,
        name,
        properties,
        query,
    }))
}

fn create_type(c: &mut Cursor<'_>) -> Result<Statement> {
    c.expect_kw("TYPE")?;
    c.set_kind("CREATE TYPE");
    let if_not_exists = c.eat_kws(&["IF", "NOT", "EXISTS"]);
    let (name, _) = c.ident("a type name")?;
    c.expect_kw("AS")?;
    let data_type = c.data_type()?;
    Ok(Statement::CreateType {
        name,
        if_not_exists,
        data_type,
    })
}

/// `(col type [KEY|PRIMARY KEY|HEADERS|HEADER('k')], …)`
fn table_elements(c: &mut Cursor<'_>, kind: SourceKind) -> Result<Vec<ColumnDef>> {
    c.expect(&Token::LParen)?;
    let mut columns = vec![column_def(c, Some(kind))?];
    while c.eat(&Token::Comma) {
        columns.push(column_def(c, Some(kind))?);
    }
    c.expect(&Token::RParen)?;
    Ok(columns)
}

/// `col type [constraint]`; `kind` is None in ALTER (no constraints there).
fn column_def(c: &mut Cursor<'_>, kind: Option<SourceKind>) -> Result<ColumnDef> {
    let (name, location) = c.ident("a column name")?;
    let data_type = c.data_type()?;
    let Some(kind) = kind else {
        return Ok(ColumnDef {
            name,
            data_type,
            constraint: ColumnConstraint::None,
            location,
        });
    };
    let at = c.location();
    let constraint = if c.eat_kws(&["PRIMARY", "KEY"]) {
        if kind == SourceKind::Stream {
            return Err(c.error_at(
                at,
                format!("Column `{name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams"),
            ));
        }
        ColumnConstraint::PrimaryKey
    } else if c.eat_kw("KEY") {
        if kind == SourceKind::Table {
            return Err(c.error_at(
                at,
                format!("Column `{name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables"),
            ));
        }
        ColumnConstraint::Key
    } else if c.eat_kw("HEADERS") {
        ColumnConstraint::Headers
    } else if c.eat_kw("HEADER") {
        c.expect(&Token::LParen)?;
        let key = c.string("a header key in quotes")?;
        c.expect(&Token::RParen)?;
        ColumnConstraint::Header(key)
    } else {
        ColumnConstraint::None
    };
    Ok(ColumnDef {
        name,
        data_type,
        constraint,
        location,
    })
}

/// After `WITH`: `(NAME = literal, …)`.
pub(super) fn properties(c: &mut Cursor<'_>) -> Result<Properties> {
    c.expect(&Token::LParen)?;
    let mut entries = Vec::new();
    loop {
        let location = c.location();
        let name = match &c.peek().token {
            Token::Word(w) => w.value.to_uppercase(),
            Token::SingleQuotedString(s) => s.to_uppercase(),
            _ => return Err(c.expected("a property name, e.g. KAFKA_TOPIC")),
        };
        c.next();
        c.expect(&Token::Eq)?;
        let negative = c.eat(&Token::Minus);
        let value = match &c.peek().token {
            Token::SingleQuotedString(s) if !negative => PropertyValue::String(s.clone()),
            Token::Number(n, _) if negative => PropertyValue::Number(format!("-{n}")),
            Token::Number(n, _) => PropertyValue::Number(n.clone()),
            Token::Word(w) if w.quote_style.is_none() && !negative => {
                match w.value.to_ascii_uppercase().as_str() {
                    "TRUE" => PropertyValue::Boolean(true),
                    "FALSE" => PropertyValue::Boolean(false),
                    _ => return Err(c.expected("a value: 'text', a number, TRUE or FALSE")),
                }
            }
            _ => return Err(c.expected("a value: 'text', a number, TRUE or FALSE")),
        };
        c.next();
        entries.push(Property {
            name,
            value,
            location,
        });
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    Ok(Properties { entries })
}

/// `INSERT INTO name [(cols)] VALUES (…)` or `INSERT INTO name [WITH (…)] SELECT …`.
fn insert(c: &mut Cursor<'_>) -> Result<Statement> {
    c.expect_kw("INSERT")?;
    c.set_kind("INSERT INTO");
    c.expect_kw("INTO")?;
    let (target, _) = c.ident("a stream or table name")?;
    if c.peek().token == Token::LParen || c.is_kw(0, "VALUES") {
        c.set_kind("INSERT VALUES");
        return Ok(Statement::InsertValues(insert_values(c, target)?));
    }
    let properties = if c.eat_kw("WITH") {
        properties(c)?
    } else {
        Properties::default()
    };
    if !c.is_kw(0, "SELECT") {
        return Err(c.expected("SELECT or VALUES"));
    }
    let query = Box::new(parse_query(c)?);
    Ok(Statement::InsertSelect(InsertSelect {
        target,
        properties,
        query,
    }))
}

/// After the target: `[(cols)] VALUES (expr, …)`.
fn insert_values(c: &mut Cursor<'_>, target: String) -> Result<InsertValues> {
    insert_values_with(c, target, "VALUES")
}

fn insert_values_with(c: &mut Cursor<'_>, target: String, keyword: &str) -> Result<InsertValues> {
    let columns = if c.eat(&Token::LParen) {
        let mut columns = vec![c.ident("a column name")?.0];
        while c.eat(&Token::Comma) {
            columns.push(c.ident("a column name")?.0);
        }
        c.expect(&Token::RParen)?;
        Some(columns)
    } else {
        None
    };
    c.expect_kw(keyword)?;
    c.expect(&Token::LParen)?;
    let values = if c.eat(&Token::RParen) {
        vec![]
    } else {
        let values = c.expr_list()?;
        c.expect(&Token::RParen)?;
        values
    };
    Ok(InsertValues {
        target,
        columns,
        values,
    })
}

fn show(c: &mut Cursor<'_>) -> Result<Statement> {
    c.next(); // SHOW | LIST
    c.set_kind("SHOW");
    let target = if c.eat_kw("STREAMS") {
        ShowTarget::Streams
    } else if c.eat_kw("TABLES") {
        ShowTarget::Tables
    } else if c.eat_kw("TOPICS") {
        ShowTarget::Topics { all: false }
    } else if c.eat_kws(&["ALL", "TOPICS"]) {
        ShowTarget::Topics { all: true }
    } else if c.eat_kw("QUERIES") {
        ShowTarget::Queries
    } else if c.eat_kw("PROPERTIES") {
        ShowTarget::Properties
    } else if c.eat_kw("FUNCTIONS") {
        ShowTarget::Functions
    } else if c.eat_kw("TYPES") {
        ShowTarget::Types
    } else if c.eat_kw("VARIABLES") {
        ShowTarget::Variables
    } else if ["CONNECTORS", "SOURCE", "SINK", "CONNECTOR"]
        .iter()
        .any(|w| c.is_kw(0, w))
    {
        return Err(unsupported(c, "CONNECTOR"));
    } else {
        return Err(c.expected(
            "STREAMS, TABLES, TOPICS, ALL TOPICS, QUERIES, PROPERTIES, FUNCTIONS, TYPES \
             or VARIABLES",
        ));
    };
    let extended = matches!(
        target,
        ShowTarget::Streams | ShowTarget::Tables | ShowTarget::Topics { .. } | ShowTarget::Queries
    ) && c.eat_kw("EXTENDED");
    Ok(Statement::Show(Show { target, extended }))
}

fn describe(c: &mut Cursor<'_>) -> Result<Statement> {
    c.next(); // DESCRIBE
    c.set_kind("DESCRIBE");
    let target = if c.is_kw(0, "FUNCTION") && matches!(c.peek_nth(1).token, Token::Word(_)) {
        c.next();
        DescribeTarget::Function(c.ident("a function name")?.0)
    } else if c.is_kw(0, "CONNECTOR") && matches!(c.peek_nth(1).token, Token::Word(_)) {
        return Err(unsupported(c, "CONNECTOR"));
    } else if c.eat_kw("STREAMS") {
        DescribeTarget::Streams
    } else if c.eat_kw("TABLES") {
        DescribeTarget::Tables
    } else {
        DescribeTarget::Source(c.ident("a stream or table name")?.0)
    };
    let extended = !matches!(target, DescribeTarget::Function(_)) && c.eat_kw("EXTENDED");
    Ok(Statement::Describe(Describe { target, extended }))
}

fn explain(c: &mut Cursor<'_>) -> Result<Statement> {
    c.next(); // EXPLAIN
    c.set_kind("EXPLAIN");
    if matches!(c.peek().token, Token::Word(_)) && c.peek_nth(1).token == Token::EOF {
        return Ok(Statement::Explain(Explain::QueryId(
            c.ident("a query id")?.0,
        )));
    }
    let location = c.location();
    let text = c.text_from(location)?;
    let statement = statement(c, false)?;
    Ok(Statement::Explain(Explain::Statement(Box::new(
        ParsedStatement {
            text: text.to_string(),
            location,
            statement,
        },
    ))))
}

fn terminate(c: &mut Cursor<'_>) -> Result<Statement> {
    c.next(); // TERMINATE
    c.set_kind("TERMINATE");
    if c.eat_kw("ALL") {
        return Ok(Statement::Terminate(Terminate::All));
    }
    // Old syntax: TERMINATE QUERY id.
    if c.is_kw(0, "QUERY") && matches!(c.peek_nth(1).token, Token::Word(_)) {
        c.next();
    }
    Ok(Statement::Terminate(Terminate::Query(
        c.ident("a query id or ALL")?.0,
    )))
}

fn drop(c: &mut Cursor<'_>) -> Result<Statement> {
    c.expect_kw("DROP")?;
    c.set_kind("DROP");
    if c.eat_kw("TYPE") {
        c.set_kind("DROP TYPE");
        let if_exists = c.eat_kws(&["IF", "EXISTS"]);
        let (name, _) = c.ident("a type name")?;
        return Ok(Statement::DropType { name, if_exists });
    }
    if c.is_kw(0, "CONNECTOR") {
        return Err(unsupported(c, "CONNECTOR"));
    }
    let kind = source_kind(c)?;
    let if_exists = c.eat_kws(&["IF", "EXISTS"]);
    let (name, _) = c.ident("a stream or table name")?;
    let delete_topic = c.eat_kws(&["DELETE", "TOPIC"]);
    Ok(Statement::Drop(Drop {
        kind,
        if_exists,
        name,
        delete_topic,
    }))
}

fn print(c: &mut Cursor<'_>) -> Result<Statement> {
    c.next(); // PRINT
    c.set_kind("PRINT");
    let topic = match &c.peek().token {
        Token::Word(w) => w.value.clone(),
        Token::SingleQuotedString(s) => s.clone(),
        _ => return Err(c.expected("a topic name")),
    };
    c.next();
    let from_beginning = c.eat_kws(&["FROM", "BEGINNING"]);
    let interval = if c.eat_kw("INTERVAL") || c.eat_kw("SAMPLE") {
        Some(c.integer("a record count")?)
    } else {
        None
    };
    let limit = if c.eat_kw("LIMIT") {
        Some(c.integer("a record count")?)
    } else {
        None
    };
    Ok(Statement::Print(Print {
        topic,
        from_beginning,
        interval,
        limit,
    }))
}

fn set(c: &mut Cursor<'_>) -> Result<Statement> {
    c.next(); // SET
    c.set_kind("SET");
    let name = c.string("a property name in quotes, e.g. 'auto.offset.reset'")?;
    c.expect(&Token::Eq)?;
    let value = c.string("a value in quotes")?;
    Ok(Statement::SetProperty { name, value })
}

fn alter(c: &mut Cursor<'_>) -> Result<Statement> {
    c.expect_kw("ALTER")?;
    c.set_kind("ALTER");
    if c.is_kw(0, "SYSTEM") {
        return Err(unsupported(c, "ALTER SYSTEM"));
    }
    let kind = source_kind(c)?;
    let (name, _) = c.ident("a stream or table name")?;
    let mut columns = Vec::new();
    loop {
        // ksqlDB repeats ADD for each column; a bare comma is accepted too.
        if !c.eat_kw("ADD") && columns.is_empty() {
            return Err(c.expected("ADD"));
        }
        c.eat_kw("COLUMN");
        columns.push(column_def(c, None)?);
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    Ok(Statement::Alter {
        kind,
        name,
        columns,
    })
}

/// `ASSERT VALUES name [(cols)] VALUES (…)` and `ASSERT NULL VALUES name
/// (key cols) KEY (…)` — a tombstone — (test files).
fn assert(c: &mut Cursor<'_>) -> Result<Statement> {
    c.next(); // ASSERT
    c.set_kind("ASSERT VALUES");
    if c.eat_kws(&["NULL", "VALUES"]) {
        let (target, _) = c.ident("a stream or table name")?;
        return Ok(Statement::AssertTombstone(insert_values_with(
            c, target, "KEY",
        )?));
    }
    if !c.eat_kw("VALUES") {
        let at = c.location();
        return Err(c.error_at(
            at,
            "Only ASSERT VALUES and ASSERT NULL VALUES are supported (not ASSERT STREAM|TABLE, \
             ASSERT TOPIC or ASSERT SCHEMA)",
        ));
    }
    let (target, _) = c.ident("a stream or table name")?;
    Ok(Statement::AssertValues(insert_values(c, target)?))
}
