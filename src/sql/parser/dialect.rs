//! The sqlparser [`Dialect`] for ksqlDB expressions.
//!
//! sqlparser parses the expressions; this dialect bends it to ksqlDB's
//! lexical and expression rules:
//!
//! * identifiers may contain `@`; both `` `x` `` and `"x"` quote identifiers;
//! * `s->f` dereferences a struct field and binds as tightly as a subscript
//!   (it stays a [`BinaryOperator::Arrow`] for the planner to rewrite);
//!   `s->*` is left for the SELECT list to handle;
//! * `arr[i]` / `map['k']` subscripts apply after any expression;
//! * lambdas are written `x => …` and `(x, y) => …` (sqlparser's own lambda
//!   syntax `x -> …` would clash with struct dereference);
//! * `STRUCT(A := 1)` and `MAP('k' := v)` are calls with named arguments
//!   ([`FunctionArg::ExprNamed`] with the `:=` operator);
//! * `CAST(x AS type)` takes ksqlDB types (`STRUCT<…>`, `MAP<…>`, `BYTES`, …);
//! * keywords with special syntax (`CASE`, `CEIL(…)`, `ARRAY[…]`, …) are
//!   parsed exactly once, never re-parsed as names, which keeps parsing
//!   linear in the input.

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgOperator, FunctionArgumentList, FunctionArguments, Ident, LambdaFunction,
    LambdaFunctionParameter, LambdaSyntax, ObjectName, OneOrManyWithParens, Subscript,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::types;

/// Binding power of `->` and `[…]`: above every arithmetic operator.
const POSTFIX_PRECEDENCE: u8 = 50;

/// ksqlDB's lexical and expression rules for sqlparser.
#[derive(Debug, Default, Clone, Copy)]
pub struct KsqlDialect;

impl Dialect for KsqlDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '@'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    /// ksqlDB names may start with digits (`ROUND(v, -1) AS 1R`).
    fn supports_numeric_prefix(&self) -> bool {
        true
    }

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    fn supports_named_fn_args_with_assignment_operator(&self) -> bool {
        true
    }

    fn supports_named_fn_args_with_rarrow_operator(&self) -> bool {
        // `=>` introduces a lambda in ksqlDB, never a named argument.
        false
    }

    fn supports_lambda_functions(&self) -> bool {
        // Handled in `parse_prefix` with `=>`.
        false
    }

    fn is_reserved_for_identifier(&self, _keyword: Keyword) -> bool {
        // A word whose special syntax does not parse is a name (`trim`,
        // `exists`, …).
        false
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let first = &parser.peek_nth_token_ref(0).token;
        let second = &parser.peek_nth_token_ref(1).token;
        match (first, second) {
            (Token::Word(_), Token::RArrow) => Some(parse_single_lambda(parser)),
            (Token::LParen, Token::Word(_)) if is_lambda_parameter_list(parser) => {
                Some(parse_lambda_list(parser))
            }
            (Token::Word(w), _) if w.quote_style.is_none() => {
                let keyword = w.keyword;
                let call = *second == Token::LParen;
                parse_keyword_prefix(parser, keyword, call)
            }
            _ => None,
        }
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        match &parser.peek_token_ref().token {
            // Not operators in ksqlDB: end the expression so the caller sees them.
            Token::Assignment | Token::RArrow | Token::Colon | Token::DoubleColon => Some(Ok(0)),
            Token::Arrow if parser.peek_nth_token_ref(1).token == Token::Mul => Some(Ok(0)),
            Token::Arrow | Token::LBracket => Some(Ok(POSTFIX_PRECEDENCE)),
            _ => None,
        }
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        _precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        match &parser.peek_token_ref().token {
            Token::Arrow => Some(parse_dereference(parser, expr)),
            Token::LBracket => Some(parse_subscript(parser, expr)),
            _ => None,
        }
    }
}

/// Expressions introduced by a keyword.
///
/// sqlparser parses a keyword with special syntax (`CEIL(…)`, `CASE …`,
/// `ARRAY[…]`, …) speculatively and, when that fails, parses it again as a
/// name or a plain call. Both attempts descend into the nested expression,
/// so nested failing input takes exponential time. Every such keyword is
/// therefore parsed here, once, without a fallback.
fn parse_keyword_prefix(
    parser: &mut Parser,
    keyword: Keyword,
    call: bool,
) -> Option<Result<Expr, ParserError>> {
    let parse: fn(&mut Parser) -> Result<Expr, ParserError> = match keyword {
        // ksqlDB has no INTERVAL expressions: `interval` is a name.
        Keyword::INTERVAL => |p| Ok(Expr::Identifier(next_ident(p))),
        Keyword::CASE => |p| {
            p.next_token();
            p.parse_case_expr()
        },
        Keyword::NOT => |p| {
            p.next_token();
            p.parse_not()
        },
        Keyword::ARRAY if parser.peek_nth_token_ref(1).token == Token::LBracket => |p| {
            p.next_token();
            p.next_token();
            p.parse_array_expr(true)
        },
        _ if !call => return None,
        Keyword::CAST => |p| parse_cast(p, CastKind::Cast),
        Keyword::TRY_CAST => |p| parse_cast(p, CastKind::TryCast),
        Keyword::SAFE_CAST => |p| parse_cast(p, CastKind::SafeCast),
        Keyword::MAP => |p| parse_constructor(p, false),
        Keyword::STRUCT => |p| parse_constructor(p, true),
        Keyword::SUBSTR | Keyword::SUBSTRING => |p| p.parse_substring(),
        Keyword::CEIL => |p| {
            p.next_token();
            p.parse_ceil_floor_expr(true)
        },
        Keyword::FLOOR => |p| {
            p.next_token();
            p.parse_ceil_floor_expr(false)
        },
        Keyword::TRIM => |p| {
            p.next_token();
            p.parse_trim_expr()
        },
        Keyword::EXTRACT => |p| {
            p.next_token();
            p.parse_extract_expr()
        },
        Keyword::OVERLAY => |p| {
            p.next_token();
            p.parse_overlay_expr()
        },
        Keyword::EXISTS => |p| {
            p.next_token();
            p.parse_exists_expr(false)
        },
        // Special forms ksqlDB does not have: ordinary calls.
        Keyword::ARRAY
        | Keyword::POSITION
        | Keyword::CONVERT
        | Keyword::TRY_CONVERT
        | Keyword::CURRENT_TIMESTAMP
        | Keyword::CURRENT_TIME
        | Keyword::CURRENT_DATE
        | Keyword::LOCALTIME
        | Keyword::LOCALTIMESTAMP => |p| {
            let name = next_ident(p);
            p.parse_function(ObjectName::from(vec![name]))
        },
        _ => return None,
    };
    Some(parse(parser))
}

/// Consumes the next token, a word, as an identifier.
fn next_ident(parser: &mut Parser) -> Ident {
    let token = parser.next_token();
    match token.token {
        Token::Word(w) => w.into_ident(token.span),
        other => Ident::with_span(token.span, other.to_string()),
    }
}

/// `expr->field`
fn parse_dereference(parser: &mut Parser, expr: &Expr) -> Result<Expr, ParserError> {
    parser.next_token(); // ->
    let token = parser.next_token();
    let field = match &token.token {
        Token::Word(w) => Ident {
            value: w.value.clone(),
            quote_style: w.quote_style,
            span: token.span,
        },
        _ => return parser.expected("a field name after '->'", token),
    };
    Ok(Expr::BinaryOp {
        left: Box::new(expr.clone()),
        op: BinaryOperator::Arrow,
        right: Box::new(Expr::Identifier(field)),
    })
}

/// `expr[index]`, after an expression that is not a plain identifier
/// (sqlparser handles `name[index]` itself, with the same result shape).
fn parse_subscript(parser: &mut Parser, expr: &Expr) -> Result<Expr, ParserError> {
    parser.next_token(); // [
    let index = parser.parse_expr()?;
    parser.expect_token(&Token::RBracket)?;
    let access = AccessExpr::Subscript(Subscript::Index { index });
    Ok(match expr {
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut access_chain = access_chain.clone();
            access_chain.push(access);
            Expr::CompoundFieldAccess {
                root: root.clone(),
                access_chain,
            }
        }
        other => Expr::CompoundFieldAccess {
            root: Box::new(other.clone()),
            access_chain: vec![access],
        },
    })
}

/// True when the tokens ahead are `( name [, name]* ) =>`.
fn is_lambda_parameter_list(parser: &Parser) -> bool {
    let mut n = 1;
    loop {
        if !matches!(parser.peek_nth_token_ref(n).token, Token::Word(_)) {
            return false;
        }
        match parser.peek_nth_token_ref(n + 1).token {
            Token::Comma => n += 2,
            Token::RParen => return parser.peek_nth_token_ref(n + 2).token == Token::RArrow,
            _ => return false,
        }
    }
}

fn lambda_parameter(parser: &mut Parser) -> Result<LambdaFunctionParameter, ParserError> {
    let token = parser.next_token();
    match &token.token {
        Token::Word(w) => Ok(LambdaFunctionParameter {
            name: Ident {
                value: w.value.clone(),
                quote_style: w.quote_style,
                span: token.span,
            },
            data_type: None,
        }),
        _ => parser.expected("a lambda parameter name", token),
    }
}

/// `x => body`
fn parse_single_lambda(parser: &mut Parser) -> Result<Expr, ParserError> {
    let param = lambda_parameter(parser)?;
    parser.expect_token(&Token::RArrow)?;
    let body = parser.parse_expr()?;
    Ok(Expr::Lambda(LambdaFunction {
        params: OneOrManyWithParens::One(param),
        body: Box::new(body),
        syntax: LambdaSyntax::Arrow,
    }))
}

/// `(x, y) => body`
fn parse_lambda_list(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let params = parser.parse_comma_separated(lambda_parameter)?;
    parser.expect_token(&Token::RParen)?;
    parser.expect_token(&Token::RArrow)?;
    let body = parser.parse_expr()?;
    Ok(Expr::Lambda(LambdaFunction {
        params: OneOrManyWithParens::Many(params),
        body: Box::new(body),
        syntax: LambdaSyntax::Arrow,
    }))
}

/// `MAP(k := v, …)` or `STRUCT(name := v, …)`, parsed here (not as
/// sqlparser's named arguments) so that each argument is parsed once.
fn parse_constructor(parser: &mut Parser, is_struct: bool) -> Result<Expr, ParserError> {
    let name = next_ident(parser);
    parser.expect_token(&Token::LParen)?;
    let mut args = Vec::new();
    if !parser.consume_token(&Token::RParen) {
        loop {
            let key = if is_struct {
                let field = parser.next_token();
                match field.token {
                    Token::Word(w) => Expr::Identifier(w.into_ident(field.span)),
                    _ => return parser.expected("a struct field name", field),
                }
            } else {
                parser.parse_expr()?
            };
            parser.expect_token(&Token::Assignment)?;
            let value = parser.parse_expr()?;
            args.push(FunctionArg::ExprNamed {
                name: key,
                arg: FunctionArgExpr::Expr(value),
                operator: FunctionArgOperator::Assignment,
            });
            if parser.consume_token(&Token::RParen) {
                break;
            }
            parser.expect_token(&Token::Comma)?;
        }
    }
    Ok(Expr::Function(Function {
        name: ObjectName::from(vec![name]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

/// `CAST(expr AS ksql_type)`; custom type names stay `DataType::Custom`
/// until the statement parser resolves them.
fn parse_cast(parser: &mut Parser, kind: CastKind) -> Result<Expr, ParserError> {
    parser.next_token(); // CAST
    parser.expect_token(&Token::LParen)?;
    let expr = parser.parse_expr()?;
    parser.expect_keyword_is(Keyword::AS)?;
    let data_type = types::parse_type(parser)?;
    parser.expect_token(&Token::RParen)?;
    Ok(Expr::Cast {
        kind,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
    })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Expr;

    use super::super::tests::e;
    use super::super::{parse_expression, types};
    use crate::types::SqlType;

    #[test]
    fn expressions_normalize_names_but_not_functions() {
        assert_eq!(
            e("ucase(name) || `Mixed` || \"Dq\""),
            "ucase(NAME) || `Mixed` || \"Dq\""
        );
        assert_eq!(e("s.addr->city->`Zip`"), "S.ADDR -> CITY -> `Zip`");
        assert_eq!(e("arr[1] + m['k'] + f(x)[2]"), "ARR[1] + M['k'] + f(X)[2]");
        assert_eq!(e("s->arr[1]->f"), "S -> ARR[1] -> F");
        assert_eq!(e("a->b + 1"), "A -> B + 1");
        assert_eq!(e("ARRAY[1, 2]"), "ARRAY[1, 2]");
        assert_eq!(e("MAP('a' := 1, 'b' := x)"), "MAP('a' := 1, 'b' := X)");
        assert_eq!(
            e("STRUCT(a := 1, `b` := 'x')"),
            "STRUCT(A := 1, `b` := 'x')"
        );
        assert_eq!(
            e("TRANSFORM(arr, x => x + 1)"),
            "TRANSFORM(ARR, X -> X + 1)"
        );
        assert_eq!(
            e("REDUCE(m, 0, (acc, k, v) => acc + v)"),
            "REDUCE(M, 0, (ACC, K, V) -> ACC + V)"
        );
        assert_eq!(
            e("filter(xs, x => exists_in(x, ys, y => y = x))"),
            "filter(XS, X -> exists_in(X, YS, Y -> Y = X))"
        );
        assert_eq!(e("a IS NOT DISTINCT FROM b"), "A IS NOT DISTINCT FROM B");
        assert_eq!(e("a LIKE 'x!%' ESCAPE '!'"), "A LIKE 'x!%' ESCAPE '!'");
        assert_eq!(
            e("CASE WHEN a = 1 THEN 'one' ELSE 'many' END"),
            "CASE WHEN A = 1 THEN 'one' ELSE 'many' END"
        );
        assert_eq!(
            e("a NOT BETWEEN 1 AND 2 AND b IN (1, 2)"),
            "A NOT BETWEEN 1 AND 2 AND B IN (1, 2)"
        );
        assert_eq!(e("DECIMAL '1.23'"), "DECIMAL '1.23'");
        assert_eq!(e("-x * 2 != 4 and not y"), "-X * 2 <> 4 AND NOT Y");
        assert_eq!(e("rowtime >= '2021-01-01'"), "ROWTIME >= '2021-01-01'");
    }

    #[test]
    fn casts_take_ksql_types() {
        assert_eq!(e("CAST(x AS STRING)"), "CAST(X AS STRING)");
        assert_eq!(e("cast(x as int)"), "CAST(X AS INT)");
        assert_eq!(e("CAST(x AS DECIMAL(5, 2))"), "CAST(X AS DECIMAL(5,2))");
        assert_eq!(e("CAST(x AS BYTES)"), "CAST(X AS BYTEA)");
        assert_eq!(
            e("CAST(x AS STRUCT<a INT, `B` MAP<STRING, ARRAY<BIGINT>>>)"),
            "CAST(X AS STRUCT<`A` INT, `B` Map(STRING, ARRAY<BIGINT>)>)"
        );
        let Ok(Expr::Cast { data_type, .. }) = parse_expression("CAST(x AS ARRAY<TIMESTAMP>)")
        else {
            panic!()
        };
        assert_eq!(
            types::sql_type_of(&data_type).ok(),
            Some(SqlType::Array(Box::new(SqlType::Timestamp)))
        );
        let Err(err) = parse_expression("CAST(x AS ADDRESS)") else {
            panic!()
        };
        assert_eq!(err.to_string(), "line 1:11: Unknown type: ADDRESS");
    }

    #[test]
    fn nested_lambdas_parse_in_linear_time() {
        // Each argument is parsed once; a parser that re-parsed lambda
        // arguments would take 2^20 steps here.
        let depth = 20;
        let mut sql = String::from("x");
        for _ in 0..depth {
            sql = format!("f(a, x => {sql})");
        }
        assert!(parse_expression(&sql).is_ok());
        let mut sql = String::from("1");
        for _ in 0..depth {
            sql = format!("MAP('k' := {sql})");
        }
        assert!(parse_expression(&sql).is_ok());
    }

    #[test]
    fn constructor_errors_are_clear() {
        let err = |s: &str| parse_expression(s).err().map(|e| e.to_string());
        assert_eq!(
            err("STRUCT('a' := 1)").as_deref(),
            Some("line 1:8: Syntax error at or near 'a': expected a struct field name")
        );
        assert_eq!(
            err("MAP('a', 1)").as_deref(),
            Some("line 1:8: Syntax error at or near ',': expected ':='")
        );
    }
}
