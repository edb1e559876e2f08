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
//! * `STRUCT(A := 1)` and `MAP('k' := v)` are calls with named arguments;
//! * `CAST(x AS type)` takes ksqlDB types (`STRUCT<…>`, `MAP<…>`, `BYTES`, …).

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, Expr, Ident, LambdaFunction, LambdaFunctionParameter,
    LambdaSyntax, OneOrManyWithParens, Subscript,
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

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    fn supports_named_fn_args_with_assignment_operator(&self) -> bool {
        true
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
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

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let first = &parser.peek_nth_token_ref(0).token;
        let second = &parser.peek_nth_token_ref(1).token;
        match (first, second) {
            (Token::Word(_), Token::RArrow) => Some(parse_single_lambda(parser)),
            (Token::LParen, Token::Word(_)) if is_lambda_parameter_list(parser) => {
                Some(parse_lambda_list(parser))
            }
            (Token::Word(w), Token::LParen) if w.quote_style.is_none() => {
                let kind = match w.keyword {
                    Keyword::CAST => CastKind::Cast,
                    Keyword::TRY_CAST => CastKind::TryCast,
                    _ => return None,
                };
                Some(parse_cast(parser, kind))
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
