//! `SELECT` in ksqlDB's shape:
//!
//! ```text
//! SELECT item, … FROM source [alias]
//!   [ [INNER|LEFT [OUTER]|RIGHT [OUTER]|FULL [OUTER]] JOIN source [alias]
//!       [WITHIN n unit | WITHIN (n unit, m unit)] [GRACE PERIOD n unit] ON expr ]*
//!   [WINDOW TUMBLING (…) | HOPPING (…) | SESSION (…)]
//!   [WHERE expr] [GROUP BY expr, …] [PARTITION BY expr, … | NULL] [HAVING expr]
//!   [EMIT CHANGES | EMIT FINAL] [LIMIT n]
//! ```

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::cursor::{is_keyword, Cursor};
use crate::error::Result;
use crate::sql::ast::{
    Emit, Join, JoinKind, Query, Relation, SelectItem, WindowKind, WindowSpec, Within,
};

/// Words that end a FROM or JOIN source, so they are never taken as aliases.
const CLAUSE_WORDS: &[&str] = &[
    "WINDOW",
    "WHERE",
    "GROUP",
    "PARTITION",
    "HAVING",
    "EMIT",
    "LIMIT",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "OUTER",
    "CROSS",
    "ON",
    "WITHIN",
    "GRACE",
    "ORDER",
    "UNION",
];

/// Parses a SELECT at the cursor, up to the end of the statement.
pub(super) fn parse_query(c: &mut Cursor<'_>) -> Result<Query> {
    let location = c.expect_kw("SELECT")?;
    if c.is_kw(0, "DISTINCT") {
        let at = c.location();
        return Err(c.error_at(at, "SELECT DISTINCT is not supported; use GROUP BY"));
    }
    c.eat_kw("ALL");
    let mut select = vec![select_item(c)?];
    while c.eat(&Token::Comma) {
        select.push(select_item(c)?);
    }
    if !c.is_kw(0, "FROM") {
        return Err(c.expected("',' or FROM"));
    }
    c.next();
    let from = relation(c)?;
    let mut joins = Vec::new();
    while let Some(kind) = join_kind(c)? {
        joins.push(join(c, kind)?);
    }
    let window = if c.eat_kw("WINDOW") {
        Some(window(c)?)
    } else {
        None
    };
    let selection = if c.eat_kw("WHERE") {
        Some(c.expr()?)
    } else {
        None
    };
    let group_by = if c.eat_kws(&["GROUP", "BY"]) {
        flatten_tuple(c.expr_list()?)
    } else {
        vec![]
    };
    let partition_by = if c.eat_kws(&["PARTITION", "BY"]) {
        flatten_tuple(c.expr_list()?)
    } else {
        vec![]
    };
    let having = if c.eat_kw("HAVING") {
        Some(c.expr()?)
    } else {
        None
    };
    let emit = if c.eat_kw("EMIT") {
        if c.eat_kw("CHANGES") {
            Some(Emit::Changes)
        } else if c.eat_kw("FINAL") {
            Some(Emit::Final)
        } else {
            return Err(c.expected("CHANGES or FINAL"));
        }
    } else {
        None
    };
    let limit = if c.eat_kw("LIMIT") {
        Some(c.integer("a row count")?)
    } else {
        None
    };
    if !c.at_end() {
        return Err(unexpected_clause(c, emit.is_none()));
    }
    Ok(Query {
        select,
        from,
        joins,
        window,
        selection,
        group_by,
        partition_by,
        having,
        emit,
        limit,
        location,
    })
}

/// The error for whatever follows a complete query.
fn unexpected_clause(c: &Cursor<'_>, emit_allowed: bool) -> crate::error::Error {
    let at = c.location();
    for (word, what) in [
        ("ORDER", "ORDER BY"),
        ("UNION", "UNION"),
        ("OFFSET", "OFFSET"),
        ("INTERSECT", "INTERSECT"),
        ("EXCEPT", "EXCEPT"),
    ] {
        if c.is_kw(0, word) {
            return c.error_at(at, format!("{what} is not supported in ksqlDB queries"));
        }
    }
    if emit_allowed {
        c.expected("EMIT CHANGES, LIMIT or end of input")
    } else {
        c.expected("LIMIT or end of input")
    }
}

/// `GROUP BY (a, b)` is `GROUP BY a, b`.
fn flatten_tuple(exprs: Vec<Expr>) -> Vec<Expr> {
    match <[Expr; 1]>::try_from(exprs) {
        Ok([Expr::Tuple(items)]) => items,
        Ok([single]) => vec![single],
        Err(exprs) => exprs,
    }
}

fn select_item(c: &mut Cursor<'_>) -> Result<SelectItem> {
    if c.eat(&Token::Mul) {
        return Ok(SelectItem::Wildcard);
    }
    if matches!(c.peek().token, Token::Word(_))
        && c.peek_nth(1).token == Token::Period
        && c.peek_nth(2).token == Token::Mul
    {
        let (source, _) = c.ident("a source name")?;
        c.next(); // .
        c.next(); // *
        return Ok(SelectItem::QualifiedWildcard(source));
    }
    let location = c.location();
    let expr = c.expr()?;
    if c.peek().token == Token::Arrow && c.peek_nth(1).token == Token::Mul {
        c.next();
        c.next();
        return Ok(SelectItem::StructWildcard(expr));
    }
    let alias = if c.eat_kw("AS") {
        Some(c.ident("an alias")?.0)
    } else if is_implicit_alias(&c.peek().token) {
        Some(c.ident("an alias")?.0)
    } else {
        None
    };
    Ok(SelectItem::Expr {
        expr,
        alias,
        location,
    })
}

/// A word after an expression or source that names it (no AS).
fn is_implicit_alias(token: &Token) -> bool {
    match token {
        Token::Word(w) if w.quote_style.is_some() => true,
        Token::Word(_) => {
            !is_keyword(token, "FROM") && !CLAUSE_WORDS.iter().any(|kw| is_keyword(token, kw))
        }
        _ => false,
    }
}

fn relation(c: &mut Cursor<'_>) -> Result<Relation> {
    let (name, location) = c.ident("a stream or table name")?;
    let alias = if c.eat_kw("AS") || is_implicit_alias(&c.peek().token) {
        Some(c.ident("an alias")?.0)
    } else {
        None
    };
    Ok(Relation {
        name,
        alias,
        location,
    })
}

/// Consumes `[INNER|LEFT [OUTER]|RIGHT [OUTER]|FULL [OUTER]] JOIN`, if next.
fn join_kind(c: &mut Cursor<'_>) -> Result<Option<JoinKind>> {
    let kind = if c.eat_kw("JOIN") {
        return Ok(Some(JoinKind::Inner));
    } else if c.eat_kw("INNER") {
        JoinKind::Inner
    } else if c.eat_kw("LEFT") {
        c.eat_kw("OUTER");
        JoinKind::Left
    } else if c.eat_kw("RIGHT") {
        c.eat_kw("OUTER");
        JoinKind::Right
    } else if c.eat_kw("FULL") {
        c.eat_kw("OUTER");
        JoinKind::Full
    } else if c.is_kw(0, "CROSS") {
        let at = c.location();
        return Err(c.error_at(at, "CROSS JOIN is not supported; use a JOIN with ON"));
    } else {
        return Ok(None);
    };
    c.expect_kw("JOIN")?;
    Ok(Some(kind))
}

fn join(c: &mut Cursor<'_>, kind: JoinKind) -> Result<Join> {
    let relation = relation(c)?;
    let within = if c.eat_kw("WITHIN") {
        let (before_ms, after_ms) = if c.eat(&Token::LParen) {
            let before = c.duration()?;
            c.expect(&Token::Comma)?;
            let after = c.duration()?;
            c.expect(&Token::RParen)?;
            (before, after)
        } else {
            let size = c.duration()?;
            (size, size)
        };
        let grace_ms = if c.eat_kws(&["GRACE", "PERIOD"]) {
            Some(c.duration()?)
        } else {
            None
        };
        Some(Within {
            before_ms,
            after_ms,
            grace_ms,
        })
    } else {
        None
    };
    if !c.is_kw(0, "ON") {
        return Err(c.expected(if within.is_some() {
            "ON"
        } else {
            "WITHIN or ON"
        }));
    }
    c.next();
    let on = c.expr()?;
    Ok(Join {
        kind,
        relation,
        within,
        on,
    })
}

/// After `WINDOW`: `TUMBLING (SIZE d [, RETENTION d] [, GRACE PERIOD d])`,
/// `HOPPING (SIZE d, ADVANCE BY d, …)` or `SESSION (d, …)`.
fn window(c: &mut Cursor<'_>) -> Result<WindowSpec> {
    let kind = if c.eat_kw("TUMBLING") {
        c.expect(&Token::LParen)?;
        c.expect_kw("SIZE")?;
        WindowKind::Tumbling {
            size_ms: c.duration()?,
        }
    } else if c.eat_kw("HOPPING") {
        c.expect(&Token::LParen)?;
        c.expect_kw("SIZE")?;
        let size_ms = c.duration()?;
        c.expect(&Token::Comma)?;
        c.expect_kw("ADVANCE")?;
        c.expect_kw("BY")?;
        WindowKind::Hopping {
            size_ms,
            advance_ms: c.duration()?,
        }
    } else if c.eat_kw("SESSION") {
        c.expect(&Token::LParen)?;
        WindowKind::Session {
            gap_ms: c.duration()?,
        }
    } else {
        return Err(c.expected("TUMBLING, HOPPING or SESSION"));
    };
    let mut spec = WindowSpec {
        kind,
        retention_ms: None,
        grace_ms: None,
    };
    while c.eat(&Token::Comma) {
        let at = c.location();
        if c.eat_kw("RETENTION") {
            if spec.retention_ms.is_some() {
                return Err(c.error_at(at, "RETENTION is given twice"));
            }
            spec.retention_ms = Some(c.duration()?);
        } else if c.eat_kws(&["GRACE", "PERIOD"]) {
            if spec.grace_ms.is_some() {
                return Err(c.error_at(at, "GRACE PERIOD is given twice"));
            }
            spec.grace_ms = Some(c.duration()?);
        } else {
            return Err(c.expected("RETENTION or GRACE PERIOD"));
        }
    }
    c.expect(&Token::RParen)?;
    Ok(spec)
}
