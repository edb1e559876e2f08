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
    // The optional clauses, in the only order ksqlDB accepts them.
    let mut next_clause = 0;
    let mut clause = |c: &mut Cursor<'_>, index: usize, keywords: &[&str]| {
        let found = c.eat_kws(keywords);
        if found {
            next_clause = index + 1;
        }
        found
    };
    let window = if clause(c, 0, &["WINDOW"]) {
        Some(window(c)?)
    } else {
        None
    };
    let selection = if clause(c, 1, &["WHERE"]) {
        Some(c.expr()?)
    } else {
        None
    };
    let group_by = if clause(c, 2, &["GROUP", "BY"]) {
        flatten_tuple(c.expr_list()?)
    } else {
        vec![]
    };
    let partition_by = if clause(c, 3, &["PARTITION", "BY"]) {
        flatten_tuple(c.expr_list()?)
    } else {
        vec![]
    };
    let having = if clause(c, 4, &["HAVING"]) {
        Some(c.expr()?)
    } else {
        None
    };
    let emit = if clause(c, 5, &["EMIT"]) {
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
    let limit = if clause(c, 6, &["LIMIT"]) {
        Some(c.integer("a row count")?)
    } else {
        None
    };
    if !c.at_end() {
        return Err(unexpected_clause(c, next_clause));
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

/// The optional clauses after FROM, in order.
const CLAUSES: [&str; 7] = [
    "WINDOW",
    "WHERE",
    "GROUP BY",
    "PARTITION BY",
    "HAVING",
    "EMIT",
    "LIMIT",
];

/// The error for whatever follows the last clause parsed; `next_clause`
/// indexes [`CLAUSES`] past it.
fn unexpected_clause(c: &Cursor<'_>, next_clause: usize) -> crate::error::Error {
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
    let mut options: Vec<&str> = Vec::new();
    if next_clause == 0 {
        options.push("JOIN");
    }
    options.extend(CLAUSES.get(next_clause..).unwrap_or_default());
    if options.is_empty() {
        return c.expected("end of input");
    }
    c.expected(&format!("{} or end of input", options.join(", ")))
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
    let alias = if c.eat_kw("AS") || is_implicit_alias(&c.peek().token) {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{error, exprs, loc, one, query};
    use crate::sql::ast::*;

    #[test]
    fn select_items_and_aliases() {
        let q = query(
            "SELECT *, s.*, addr->*, a, b AS bee, c cee, d \"Dee\", e AS `key`, 1 + f, \
             `Quoted`.x FROM s EMIT CHANGES;",
        );
        assert_eq!(
            exprs(&q.select),
            [
                "*",
                "S.*",
                "ADDR->*",
                "A",
                "B AS BEE",
                "C AS CEE",
                "D AS Dee",
                "E AS key",
                "1 + F",
                "`Quoted`.X",
            ]
        );
        let SelectItem::Expr { location, .. } = &q.select[3] else {
            panic!()
        };
        assert_eq!(*location, loc(1, 25));
        assert_eq!(q.location, loc(1, 1));
        assert_eq!(q.from.name, "S");
        assert_eq!(q.emit, Some(Emit::Changes));
        assert_eq!(q.limit, None);
    }

    #[test]
    fn from_and_joins() {
        let q = query(
            "SELECT * FROM orders o JOIN items AS i WITHIN 1 HOUR ON o.item = i.id \
             LEFT OUTER JOIN users u WITHIN (5 MINUTES, 2 SECONDS) GRACE PERIOD 1 DAY ON o.u = u.id \
             RIGHT JOIN r ON r.id = o.id INNER JOIN t ON t.id = o.id FULL JOIN f ON f.id = o.id \
             LEFT JOIN g WITHIN 10 MILLISECONDS GRACE PERIOD 3 SECONDS ON g.id = o.id",
        );
        assert_eq!(q.from.name, "ORDERS");
        assert_eq!(q.from.alias.as_deref(), Some("O"));
        let joins: Vec<_> = q
            .joins
            .iter()
            .map(|j| {
                (
                    j.kind,
                    j.relation.name.as_str(),
                    j.relation.alias.as_deref(),
                    j.within,
                    j.on.to_string(),
                )
            })
            .collect();
        let within = |b, a, g| {
            Some(Within {
                before_ms: b,
                after_ms: a,
                grace_ms: g,
            })
        };
        assert_eq!(
            joins,
            vec![
                (
                    JoinKind::Inner,
                    "ITEMS",
                    Some("I"),
                    within(3_600_000, 3_600_000, None),
                    "O.ITEM = I.ID".into()
                ),
                (
                    JoinKind::Left,
                    "USERS",
                    Some("U"),
                    within(300_000, 2_000, Some(86_400_000)),
                    "O.U = U.ID".into()
                ),
                (JoinKind::Right, "R", None, None, "R.ID = O.ID".into()),
                (JoinKind::Inner, "T", None, None, "T.ID = O.ID".into()),
                (JoinKind::Full, "F", None, None, "F.ID = O.ID".into()),
                (
                    JoinKind::Left,
                    "G",
                    None,
                    within(10, 10, Some(3_000)),
                    "G.ID = O.ID".into()
                ),
            ]
        );
        let (msg, _) = error("SELECT * FROM a JOIN b WITHIN 1 FORTNIGHT ON a.x = b.x;");
        assert!(msg.contains("expected a time unit"), "{msg}");
        let (msg, _) = error("SELECT * FROM a CROSS JOIN b;");
        assert!(msg.contains("CROSS JOIN is not supported"), "{msg}");
    }

    #[test]
    fn windows_and_clauses() {
        let q = query(
            "SELECT k, SUM(v) FROM s WINDOW TUMBLING (SIZE 30 SECONDS, RETENTION 2 DAYS, \
             GRACE PERIOD 0 MILLISECONDS) WHERE v > 0 GROUP BY k HAVING SUM(v) > 10 \
             EMIT FINAL LIMIT 5;",
        );
        assert_eq!(
            q.window,
            Some(WindowSpec {
                kind: WindowKind::Tumbling { size_ms: 30_000 },
                retention_ms: Some(172_800_000),
                grace_ms: Some(0),
            })
        );
        assert_eq!(q.selection.map(|e| e.to_string()).as_deref(), Some("V > 0"));
        assert_eq!(
            q.having.map(|e| e.to_string()).as_deref(),
            Some("SUM(V) > 10")
        );
        assert_eq!((q.emit, q.limit), (Some(Emit::Final), Some(5)));

        let q = query("SELECT * FROM s WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY 10 SECOND, GRACE PERIOD 1 HOUR) GROUP BY (a, b);");
        assert_eq!(
            q.window,
            Some(WindowSpec {
                kind: WindowKind::Hopping {
                    size_ms: 60_000,
                    advance_ms: 10_000
                },
                retention_ms: None,
                grace_ms: Some(3_600_000),
            })
        );
        assert_eq!(q.group_by.len(), 2);

        let q = query("SELECT * FROM s WINDOW SESSION (5 MINUTES) GROUP BY a;");
        assert_eq!(
            q.window.map(|w| w.kind),
            Some(WindowKind::Session { gap_ms: 300_000 })
        );

        let q = query("SELECT * FROM s PARTITION BY NULL EMIT CHANGES;");
        assert_eq!(q.partition_by.len(), 1);
        assert_eq!(q.partition_by[0].to_string(), "NULL");
        let q = query("SELECT * FROM s PARTITION BY a, b->c;");
        let p: Vec<_> = q.partition_by.iter().map(|e| e.to_string()).collect();
        assert_eq!(p, ["A", "B -> C"]);

        let (msg, _) = error("SELECT * FROM s WINDOW TUMBLING (SIZE 1 HOUR, RETENTION 1 DAY, RETENTION 2 DAYS) GROUP BY a;");
        assert!(msg.contains("RETENTION is given twice"), "{msg}");
        let (msg, _) = error("SELECT * FROM s WINDOW SLIDING (SIZE 1 HOUR) GROUP BY a;");
        assert!(
            msg.contains("expected TUMBLING, HOPPING or SESSION"),
            "{msg}"
        );
        let (msg, _) = error("SELECT * FROM s ORDER BY a;");
        assert_eq!(
            msg,
            "line 1:17: ORDER BY is not supported in ksqlDB queries"
        );
        let (msg, _) = error("SELECT DISTINCT a FROM s;");
        assert!(msg.contains("SELECT DISTINCT is not supported"), "{msg}");
        let (msg, _) = error("SELECT * FROM s EMIT SOMETIMES;");
        assert!(msg.contains("expected CHANGES or FINAL"), "{msg}");
        let (msg, _) =
            error("SELECT * FROM s WINDOW TUMBLING (SIZE 99999999999999999 DAYS) GROUP BY a;");
        assert!(msg.contains("Duration is too large"), "{msg}");
    }

    #[test]
    fn keywords_work_as_names() {
        let q = query(
            "SELECT key, value, date, time, timestamp, interval, type, user, s->value, `a``b` \
             FROM events WHERE timestamp > 0 AND interval IS NULL;",
        );
        assert_eq!(
            exprs(&q.select),
            [
                "KEY",
                "VALUE",
                "DATE",
                "TIME",
                "TIMESTAMP",
                "INTERVAL",
                "TYPE",
                "USER",
                "S -> VALUE",
                "`a``b`",
            ]
        );
        let Statement::CreateSource(c) = one(
            "CREATE STREAM events (key STRING KEY, timestamp BIGINT, type INT) WITH (KAFKA_TOPIC='e');",
        ) else {
            panic!()
        };
        let names: Vec<_> = c.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["KEY", "TIMESTAMP", "TYPE"]);
    }

    #[test]
    fn misplaced_clauses_list_what_may_follow() {
        let (msg, _) = error("SELECT * FROM s x y;");
        assert!(
            msg.ends_with(
                "at or near 'y': expected JOIN, WINDOW, WHERE, GROUP BY, PARTITION BY, \
                           HAVING, EMIT, LIMIT or end of input"
            ),
            "{msg}"
        );
        let (msg, _) = error("SELECT * FROM s PARTITION BY a WHERE b;");
        assert!(
            msg.ends_with("at or near 'WHERE': expected HAVING, EMIT, LIMIT or end of input"),
            "{msg}"
        );
        let (msg, _) = error("SELECT * FROM s EMIT CHANGES LIMIT 1 LIMIT 2;");
        assert!(msg.ends_with("expected end of input"), "{msg}");
    }
}
