//! Kubernetes label selectors: parsing, validation, matching and printing.
//!
//! The string syntax is the one `kubectl -l` and `k8s.io/apimachinery`'s `labels.Parse`
//! accept: comma-separated requirements that must all hold, each one of
//!
//! | syntax              | holds when                                               |
//! |---------------------|----------------------------------------------------------|
//! | `key=value`, `key==value` | the label is present with that value               |
//! | `key!=value`        | the label is absent or has another value                 |
//! | `key in (a,b)`      | the label is present with one of the values              |
//! | `key notin (a,b)`   | the label is absent or has none of the values            |
//! | `key`               | the label is present                                     |
//! | `!key`              | the label is absent                                      |
//! | `key>5`, `key<5`    | the label is present and, read as an integer, greater / less |
//!
//! Spaces, tabs and line breaks may separate tokens. Keys are Kubernetes qualified names with an
//! optional DNS-subdomain prefix (`app.kubernetes.io/name`); values are empty or up to 63
//! alphanumeric characters, `-`, `_` and `.`, starting and ending alphanumeric — exactly what the
//! API server accepts, so a selector that parses here is one the cluster accepts too. As in
//! Kubernetes, `key=` means "the label is present and empty" and `key in ()` means the same; the
//! label keys `in` and `notin` cannot be written in the string syntax (they are the keywords).
//!
//! The structured form of a selector (`matchLabels` + `matchExpressions`, as in a Deployment's
//! `spec.selector`) is read with [`LabelSelector::from_json`].
//!
//! ```
//! use csdr_core::label_selector::LabelSelector;
//! use std::collections::BTreeMap;
//!
//! let selector = LabelSelector::parse("app = web, tier notin (cache), !canary")?;
//! let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
//! assert!(selector.matches(&labels));
//! // The canonical form: requirements sorted by key, values sorted.
//! assert_eq!(selector.to_string(), "app=web,!canary,tier notin (cache)");
//!
//! let err = LabelSelector::parse("app=web tier=db").unwrap_err();
//! assert_eq!(err.position(), Some(8));
//! # Ok::<(), csdr_core::label_selector::LabelSelectorError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::names::{
    DNS_SUBDOMAIN_MAX_LENGTH, LABEL_VALUE_MAX_LENGTH, QUALIFIED_NAME_MAX_LENGTH, is_dns_subdomain,
    is_qualified_name_part,
};
use crate::object::KubeObject;

/// What to write instead, appended to every syntax error.
const SYNTAX_HINT: &str = "write requirements such as `app=web`, `tier!=cache`, \
`env in (prod,staging)`, `env notin (dev)`, `release` or `!canary`, separated by commas";

/// Why a label selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelSelectorError {
    /// The string form is malformed.
    #[error("invalid label selector {input:?} at position {position}: {reason}; {hint}", hint = SYNTAX_HINT)]
    Syntax {
        /// The whole selector as given.
        input: String,
        /// 0-based byte offset of the offending token (the character index for ASCII input);
        /// the input's length when the input ended too early.
        position: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A field of the structured form (or of a requirement built in code) is invalid.
    #[error("invalid label selector: field {field}: {reason}")]
    Field {
        /// The field, e.g. `matchExpressions[1].operator` or `matchLabels.app`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl LabelSelectorError {
    /// The 0-based byte offset of a syntax error, `None` for a field error.
    pub fn position(&self) -> Option<usize> {
        match self {
            LabelSelectorError::Syntax { position, .. } => Some(*position),
            LabelSelectorError::Field { .. } => None,
        }
    }

    /// What is wrong, without the input or the field.
    pub fn reason(&self) -> &str {
        match self {
            LabelSelectorError::Syntax { reason, .. }
            | LabelSelectorError::Field { reason, .. } => reason,
        }
    }
}

/// The relation a requirement states between a label and its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `key=value` (also written `key==value`).
    Equals,
    /// `key!=value`.
    NotEquals,
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)`.
    NotIn,
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key>n`.
    GreaterThan,
    /// `key<n`.
    LessThan,
}

/// Labels a selector can be matched against.
///
/// Implemented for the JSON map [`KubeObject::labels`] returns, for `BTreeMap<String, String>`
/// and for `HashMap<String, String>`.
pub trait Labels {
    /// Whether the label is present.
    fn has_label(&self, key: &str) -> bool;
    /// The label's value, if present and a string.
    fn label_value(&self, key: &str) -> Option<&str>;
}

/// A JSON label map; a label whose value is not a string is present but equals no value.
impl Labels for Map<String, Value> {
    fn has_label(&self, key: &str) -> bool {
        self.contains_key(key)
    }
    fn label_value(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl Labels for BTreeMap<String, String> {
    fn has_label(&self, key: &str) -> bool {
        self.contains_key(key)
    }
    fn label_value(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Labels for HashMap<String, String, S> {
    fn has_label(&self, key: &str) -> bool {
        self.contains_key(key)
    }
    fn label_value(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// One requirement of a selector: a key, an operator and (for all but `Exists` and
/// `DoesNotExist`) values. Always valid: every constructor checks it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: BTreeSet<String>,
}

impl Requirement {
    /// A requirement, checked as the API server checks it: the key is a qualified name, every
    /// value a label value; `in`/`notin` need at least one value, `=`/`!=`/`>`/`<` exactly one
    /// (an integer for `>` and `<`), `exists`/`!` none. The error names the field (`key`,
    /// `values`, `values[i]`).
    pub fn new<I, V>(key: &str, operator: Operator, values: I) -> Result<Self, LabelSelectorError>
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        validate_requirement(key, operator, &values)
            .map_err(|(field, reason)| LabelSelectorError::Field { field, reason })?;
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values: values.into_iter().collect(),
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without duplicates (empty for `Exists` and `DoesNotExist`).
    pub fn values(&self) -> &BTreeSet<String> {
        &self.values
    }

    /// Whether the labels satisfy this requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.label_value(&self.key);
        let among_values = || value.is_some_and(|v| self.values.contains(v));
        match self.operator {
            Operator::Equals | Operator::In => among_values(),
            Operator::NotEquals | Operator::NotIn => !among_values(),
            Operator::Exists => labels.has_label(&self.key),
            Operator::DoesNotExist => !labels.has_label(&self.key),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(label) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                // Validated on construction: exactly one integer value.
                let Some(bound) = self
                    .values
                    .iter()
                    .next()
                    .and_then(|v| v.parse::<i64>().ok())
                else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    label > bound
                } else {
                    label < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = || self.values.iter().cloned().collect::<Vec<_>>().join(",");
        match self.operator {
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={}", self.key, joined()),
            Operator::NotEquals => write!(f, "{}!={}", self.key, joined()),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, joined()),
            Operator::LessThan => write!(f, "{}<{}", self.key, joined()),
            Operator::In => write!(f, "{} in ({})", self.key, joined()),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, joined()),
        }
    }
}

/// A label selector: requirements that must all hold. The empty selector matches everything.
///
/// Requirements are kept sorted by key (stably, as Kubernetes does), so two selectors that
/// differ only in the order of their requirements' keys are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// A selector of these requirements (sorted by key).
    pub fn new(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements }
    }

    /// Parses the string syntax; the empty (or blank) string is the selector that matches
    /// everything. The error names the input, the byte position and the reason.
    pub fn parse(input: &str) -> Result<Self, LabelSelectorError> {
        Parser::new(input).parse_selector().map(LabelSelector::new)
    }

    /// Reads the structured form `{"matchLabels": {...}, "matchExpressions": [{"key", "operator",
    /// "values"}]}` with operators `In`, `NotIn`, `Exists`, `DoesNotExist`. `null` and `{}` (no
    /// selector) match everything. Unknown fields are rejected; errors name the field.
    pub fn from_json(value: &Value) -> Result<Self, LabelSelectorError> {
        let object = match value {
            Value::Null => return Ok(LabelSelector::everything()),
            Value::Object(object) => object,
            other => {
                return Err(field_error(
                    "",
                    format!("expected an object, found {other}"),
                ));
            }
        };
        let mut requirements = Vec::new();
        for (name, field) in object {
            match name.as_str() {
                "matchLabels" => read_match_labels(field, &mut requirements)?,
                "matchExpressions" => read_match_expressions(field, &mut requirements)?,
                other => {
                    return Err(field_error(
                        other,
                        "unknown field; a label selector has only matchLabels and matchExpressions",
                    ));
                }
            }
        }
        Ok(LabelSelector::new(requirements))
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this selector has no requirements (and so matches everything).
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement (an object without
    /// labels has none).
    pub fn matches_object(&self, object: &KubeObject) -> bool {
        match object.labels() {
            Some(labels) => self.matches(labels),
            None => self.matches(&Map::new()),
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = LabelSelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabelSelector::parse(s)
    }
}

fn field_error(field: &str, reason: impl Into<String>) -> LabelSelectorError {
    LabelSelectorError::Field {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn read_match_labels(
    field: &Value,
    requirements: &mut Vec<Requirement>,
) -> Result<(), LabelSelectorError> {
    let labels = match field {
        Value::Null => return Ok(()),
        Value::Object(labels) => labels,
        other => {
            return Err(field_error(
                "matchLabels",
                format!("expected a map of label keys to values, found {other}"),
            ));
        }
    };
    for (key, value) in labels {
        let path = format!("matchLabels.{key}");
        let Some(value) = value.as_str() else {
            return Err(field_error(
                &path,
                format!("expected a string value, found {value}"),
            ));
        };
        validate_key(key).map_err(|reason| field_error(&path, reason))?;
        validate_value(value).map_err(|reason| field_error(&path, reason))?;
        requirements.push(Requirement {
            key: key.clone(),
            operator: Operator::Equals,
            values: BTreeSet::from([value.to_string()]),
        });
    }
    Ok(())
}

fn read_match_expressions(
    field: &Value,
    requirements: &mut Vec<Requirement>,
) -> Result<(), LabelSelectorError> {
    let expressions = match field {
        Value::Null => return Ok(()),
        Value::Array(expressions) => expressions,
        other => {
            return Err(field_error(
                "matchExpressions",
                format!("expected a list of requirements, found {other}"),
            ));
        }
    };
    for (i, expression) in expressions.iter().enumerate() {
        let path = format!("matchExpressions[{i}]");
        let Some(expression) = expression.as_object() else {
            return Err(field_error(
                &path,
                format!("expected an object with key, operator and values, found {expression}"),
            ));
        };
        if let Some(unknown) = expression
            .keys()
            .find(|k| !matches!(k.as_str(), "key" | "operator" | "values"))
        {
            return Err(field_error(
                &format!("{path}.{unknown}"),
                "unknown field; a requirement has only key, operator and values",
            ));
        }
        let key = expression
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| field_error(&format!("{path}.key"), "missing or not a string"))?;
        let operator_name = expression
            .get("operator")
            .and_then(Value::as_str)
            .ok_or_else(|| field_error(&format!("{path}.operator"), "missing or not a string"))?;
        let operator = match operator_name {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(field_error(
                    &format!("{path}.operator"),
                    format!(
                        "{other:?} is not a valid operator; use In, NotIn, Exists or DoesNotExist"
                    ),
                ));
            }
        };
        let values: Vec<String> = match expression.get("values") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(values)) => {
                let mut out = Vec::with_capacity(values.len());
                for (j, value) in values.iter().enumerate() {
                    let Some(value) = value.as_str() else {
                        return Err(field_error(
                            &format!("{path}.values[{j}]"),
                            format!("expected a string, found {value}"),
                        ));
                    };
                    out.push(value.to_string());
                }
                out
            }
            Some(other) => {
                return Err(field_error(
                    &format!("{path}.values"),
                    format!("expected a list of strings, found {other}"),
                ));
            }
        };
        validate_requirement(key, operator, &values)
            .map_err(|(field, reason)| field_error(&format!("{path}.{field}"), reason))?;
        requirements.push(Requirement {
            key: key.to_string(),
            operator,
            values: values.into_iter().collect(),
        });
    }
    Ok(())
}

/// Checks a requirement; the error is (sub-field, reason).
fn validate_requirement(
    key: &str,
    operator: Operator,
    values: &[String],
) -> Result<(), (String, String)> {
    validate_key(key).map_err(|reason| ("key".to_string(), reason))?;
    let count_error = |reason: &str| Err(("values".to_string(), reason.to_string()));
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return count_error("values must not be empty for the In and NotIn operators");
        }
        Operator::Equals | Operator::NotEquals if values.len() != 1 => {
            return count_error("exactly one value is required for = and !=");
        }
        Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
            return count_error("exactly one value is required for > and <");
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return count_error("values must be empty for the Exists and DoesNotExist operators");
        }
        _ => {}
    }
    for (i, value) in values.iter().enumerate() {
        validate_value(value).map_err(|reason| (format!("values[{i}]"), reason))?;
        if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            validate_integer(value).map_err(|reason| (format!("values[{i}]"), reason))?;
        }
    }
    Ok(())
}

const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
and must start and end with an alphanumeric character";

/// Kubernetes' `IsQualifiedName`: `[prefix/]name`.
fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((_, name)) if name.contains('/') => {
            return Err(format!(
                "invalid label key {key:?}: a label key is a name with an optional DNS subdomain \
                 prefix and one '/' (e.g. 'app' or 'app.kubernetes.io/name')"
            ));
        }
        Some((prefix, name)) => (Some(prefix), name),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(format!(
                "invalid label key {key:?}: prefix part must be non-empty"
            ));
        }
        if prefix.len() > DNS_SUBDOMAIN_MAX_LENGTH {
            return Err(format!(
                "invalid label key {key:?}: prefix part must be no more than 253 characters"
            ));
        }
        if !is_dns_subdomain(prefix) {
            return Err(format!(
                "invalid label key {key:?}: prefix part must be a lowercase RFC 1123 subdomain: \
                 lower case alphanumeric characters, '-' or '.', starting and ending with an \
                 alphanumeric character (e.g. 'example.com')"
            ));
        }
    }
    if name.is_empty() {
        return Err(format!(
            "invalid label key {key:?}: name part must be non-empty"
        ));
    }
    if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        return Err(format!(
            "invalid label key {key:?}: name part must be no more than 63 characters"
        ));
    }
    if !is_qualified_name_part(name) {
        return Err(format!(
            "invalid label key {key:?}: name part {NAME_RULE} (e.g. 'MyName', 'my.name' or '123-abc')"
        ));
    }
    Ok(())
}

/// Kubernetes' `IsValidLabelValue`: empty, or a qualified name part of at most 63 characters.
fn validate_value(value: &str) -> Result<(), String> {
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        return Err(format!(
            "invalid label value {value:?}: must be no more than 63 characters"
        ));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        return Err(format!(
            "invalid label value {value:?}: a label value must be empty or {NAME_RULE} \
             (e.g. 'MyValue', 'my_value' or '12345')"
        ));
    }
    Ok(())
}

fn validate_integer(value: &str) -> Result<(), String> {
    value
        .parse::<i64>()
        .map(|_| ())
        .map_err(|_| format!("the value of > and < must be an integer, found {value:?}"))
}

// ---------------------------------------------------------------------------------------------
// The string syntax.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenKind {
    End,
    Identifier,
    In,
    NotIn,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    OpenParen,
    CloseParen,
    Comma,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: TokenKind,
    text: &'a str,
    position: usize,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self.kind {
            TokenKind::End => "end of string".to_string(),
            _ => format!("'{}'", self.text),
        }
    }

    /// Keywords are plain identifiers where a value is expected.
    fn is_value(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Identifier | TokenKind::In | TokenKind::NotIn
        )
    }
}

/// As in Kubernetes: space, tab, carriage return and line feed separate tokens.
fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn tokenize(input: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if is_whitespace(c) {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next = chars.peek().map(|&(_, n)| n);
            let (kind, len) = match (c, next) {
                ('!', Some('=')) => (TokenKind::NotEquals, 2),
                ('=', Some('=')) => (TokenKind::DoubleEquals, 2),
                ('!', _) => (TokenKind::Bang, 1),
                ('=', _) => (TokenKind::Equals, 1),
                ('>', _) => (TokenKind::GreaterThan, 1),
                ('<', _) => (TokenKind::LessThan, 1),
                ('(', _) => (TokenKind::OpenParen, 1),
                (')', _) => (TokenKind::CloseParen, 1),
                _ => (TokenKind::Comma, 1),
            };
            if len == 2 {
                chars.next();
            }
            tokens.push(Token {
                kind,
                text: &input[start..start + len],
                position: start,
            });
            continue;
        }
        let mut end = input.len();
        while let Some(&(i, c)) = chars.peek() {
            if is_whitespace(c) || is_special(c) {
                end = i;
                break;
            }
            chars.next();
        }
        let text = &input[start..end];
        let kind = match text {
            "in" => TokenKind::In,
            "notin" => TokenKind::NotIn,
            _ => TokenKind::Identifier,
        };
        tokens.push(Token {
            kind,
            text,
            position: start,
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        text: "",
        position: input.len(),
    });
    tokens
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser {
            input,
            tokens: tokenize(input),
            next: 0,
        }
    }

    fn peek(&self) -> Token<'a> {
        self.tokens
            .get(self.next)
            .or(self.tokens.last())
            .copied()
            .unwrap_or(Token {
                kind: TokenKind::End,
                text: "",
                position: self.input.len(),
            })
    }

    fn take(&mut self) -> Token<'a> {
        let token = self.peek();
        if self.next < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn error(&self, position: usize, reason: String) -> LabelSelectorError {
        LabelSelectorError::Syntax {
            input: self.input.to_string(),
            position,
            reason,
        }
    }

    fn unexpected(&self, token: Token<'_>, expected: &str) -> LabelSelectorError {
        self.error(
            token.position,
            format!("expected {expected}, found {}", token.describe()),
        )
    }

    fn parse_selector(mut self) -> Result<Vec<Requirement>, LabelSelectorError> {
        let mut requirements = Vec::new();
        if self.peek().kind == TokenKind::End {
            return Ok(requirements);
        }
        loop {
            requirements.push(self.parse_requirement()?);
            let token = self.take();
            match token.kind {
                TokenKind::End => return Ok(requirements),
                TokenKind::Comma => {
                    let after = self.peek();
                    if !matches!(after.kind, TokenKind::Identifier | TokenKind::Bang) {
                        return Err(self.unexpected(after, "a label key or '!' after ','"));
                    }
                }
                _ => return Err(self.unexpected(token, "',' or end of string")),
            }
        }
    }

    fn parse_key(&mut self, expected: &str) -> Result<String, LabelSelectorError> {
        let token = self.take();
        if token.kind != TokenKind::Identifier {
            return Err(self.unexpected(token, expected));
        }
        validate_key(token.text).map_err(|reason| self.error(token.position, reason))?;
        Ok(token.text.to_string())
    }

    fn parse_requirement(&mut self) -> Result<Requirement, LabelSelectorError> {
        if self.peek().kind == TokenKind::Bang {
            self.take();
            let key = self.parse_key("a label key after '!'")?;
            return Ok(Requirement {
                key,
                operator: Operator::DoesNotExist,
                values: BTreeSet::new(),
            });
        }
        let key = self.parse_key("a label key or '!'")?;
        let token = self.take();
        let operator = match token.kind {
            TokenKind::End | TokenKind::Comma => {
                // `key` alone: put the separator back for the caller.
                self.next -= 1;
                return Ok(Requirement {
                    key,
                    operator: Operator::Exists,
                    values: BTreeSet::new(),
                });
            }
            TokenKind::Equals | TokenKind::DoubleEquals => Operator::Equals,
            TokenKind::NotEquals => Operator::NotEquals,
            TokenKind::GreaterThan => Operator::GreaterThan,
            TokenKind::LessThan => Operator::LessThan,
            TokenKind::In => Operator::In,
            TokenKind::NotIn => Operator::NotIn,
            _ => {
                return Err(self.unexpected(
                    token,
                    "an operator (=, ==, !=, in, notin, >, <), ',' or end of string",
                ));
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_value_list(token.text)?,
            _ => BTreeSet::from([self.parse_exact_value(operator)?]),
        };
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    /// A value token: checked as a label value.
    fn value(&self, token: Token<'_>) -> Result<String, LabelSelectorError> {
        validate_value(token.text).map_err(|reason| self.error(token.position, reason))?;
        Ok(token.text.to_string())
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; nothing before `,` or the end is `""`.
    fn parse_exact_value(&mut self, operator: Operator) -> Result<String, LabelSelectorError> {
        let token = self.peek();
        let value = if matches!(token.kind, TokenKind::End | TokenKind::Comma) {
            String::new()
        } else if token.is_value() {
            self.take();
            self.value(token)?
        } else {
            return Err(self.unexpected(token, "a value"));
        };
        if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            validate_integer(&value).map_err(|reason| self.error(token.position, reason))?;
        }
        Ok(value)
    }

    /// `( v1, v2, … )`; empty entries (`()`, `(a,)`, `(,a)`, `(a,,b)`) are the empty value.
    fn parse_value_list(&mut self, keyword: &str) -> Result<BTreeSet<String>, LabelSelectorError> {
        let open = self.take();
        if open.kind != TokenKind::OpenParen {
            return Err(self.unexpected(open, &format!("'(' after '{keyword}'")));
        }
        let mut values = BTreeSet::new();
        // Whether the last thing read was a value (so an empty entry is not pending).
        let mut after_value = false;
        loop {
            let token = self.take();
            match token.kind {
                TokenKind::CloseParen => {
                    if !after_value {
                        values.insert(String::new());
                    }
                    return Ok(values);
                }
                TokenKind::Comma => {
                    if !after_value {
                        values.insert(String::new());
                    }
                    after_value = false;
                }
                _ if token.is_value() && !after_value => {
                    values.insert(self.value(token)?);
                    after_value = true;
                }
                _ if after_value => return Err(self.unexpected(token, "',' or ')'")),
                _ => return Err(self.unexpected(token, "a value, ',' or ')'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_selectors_and_their_canonical_form() {
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("   ", ""),
            ("app=web", "app=web"),
            ("app==web", "app=web"),
            ("app = web", "app=web"),
            ("app!=web", "app!=web"),
            ("app=", "app="),
            ("app=,tier", "app=,tier"),
            ("app", "app"),
            ("!app", "!app"),
            ("! app", "!app"),
            ("env in (prod, staging)", "env in (prod,staging)"),
            ("env in(staging,prod,prod)", "env in (prod,staging)"),
            ("env notin (dev)", "env notin (dev)"),
            ("env in ()", "env in ()"),
            ("env in (a,)", "env in (,a)"),
            ("env in (,a)", "env in (,a)"),
            ("env in (a,,b)", "env in (,a,b)"),
            ("env in (in,notin)", "env in (in,notin)"),
            ("app=in", "app=in"),
            ("replicas>3", "replicas>3"),
            ("replicas < 10", "replicas<10"),
            ("tier,app=web", "app=web,tier"),
            ("b=1,a=2,!c", "a=2,b=1,!c"),
            ("\tapp=web,\n\r!canary ", "app=web,!canary"),
            ("app.kubernetes.io/name=shop", "app.kubernetes.io/name=shop"),
            (
                "example.com/My_Key-1.x=V.1_a-b",
                "example.com/My_Key-1.x=V.1_a-b",
            ),
        ];
        for (input, canonical) in table {
            let selector = LabelSelector::parse(input)
                .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(
                selector.to_string(),
                *canonical,
                "canonical form of {input:?}"
            );
            assert_eq!(
                LabelSelector::parse(canonical).unwrap(),
                selector,
                "canonical form of {input:?} parses back"
            );
        }
    }

    #[test]
    fn invalid_selectors_report_position_and_reason() {
        let long = "a".repeat(64);
        let long_value = format!("app={long}");
        let long_key = format!("{long}=x");
        let table: &[(&str, usize, &str)] = &[
            (
                "app=web tier=db",
                8,
                "expected ',' or end of string, found 'tier'",
            ),
            (
                "app=web,",
                8,
                "expected a label key or '!' after ',', found end of string",
            ),
            (",app", 0, "expected a label key or '!', found ','"),
            (
                "app=web,,a",
                8,
                "expected a label key or '!' after ',', found ','",
            ),
            ("=web", 0, "expected a label key or '!', found '='"),
            (
                "!",
                1,
                "expected a label key after '!', found end of string",
            ),
            ("!app=web", 4, "expected ',' or end of string, found '='"),
            ("!!app", 1, "expected a label key after '!', found '!'"),
            ("in=x", 0, "expected a label key or '!', found 'in'"),
            ("app in", 6, "expected '(' after 'in', found end of string"),
            ("app notin a", 10, "expected '(' after 'notin', found 'a'"),
            ("app in (a b)", 10, "expected ',' or ')', found 'b'"),
            ("app in (a", 9, "expected ',' or ')', found end of string"),
            ("app in (=)", 8, "expected a value, ',' or ')', found '='"),
            ("app=(x)", 4, "expected a value, found '('"),
            ("app===x", 5, "expected a value, found '='"),
            ("app=!x", 4, "expected a value, found '!'"),
            (
                "app(x)",
                3,
                "expected an operator (=, ==, !=, in, notin, >, <), ',' or end of string, found '('",
            ),
            (
                "app >",
                5,
                "the value of > and < must be an integer, found \"\"",
            ),
            (
                "app>a",
                4,
                "the value of > and < must be an integer, found \"a\"",
            ),
            ("app<-1", 4, "invalid label value \"-1\""),
            ("app=-web", 4, "invalid label value \"-web\""),
            ("app=web-", 4, "invalid label value \"web-\""),
            ("app=a/b", 4, "invalid label value \"a/b\""),
            ("app=caf\u{e9}", 4, "invalid label value"),
            (&long_value, 4, "must be no more than 63 characters"),
            (&long_key, 0, "name part must be no more than 63 characters"),
            (
                "x,Example.com/a=b",
                2,
                "prefix part must be a lowercase RFC 1123 subdomain",
            ),
            ("/a=b", 0, "prefix part must be non-empty"),
            ("a/=b", 0, "name part must be non-empty"),
            ("a/b/c=d", 0, "one '/'"),
            (
                "a..b.-c/x",
                0,
                "prefix part must be a lowercase RFC 1123 subdomain",
            ),
            (
                "_app=x",
                0,
                "name part must consist of alphanumeric characters",
            ),
            ("app in (a, -b)", 11, "invalid label value \"-b\""),
        ];
        for (input, position, reason) in table {
            let err = LabelSelector::parse(input).expect_err(input);
            assert_eq!(
                err.position(),
                Some(*position),
                "position for {input:?}: {err}"
            );
            assert!(
                err.reason().contains(reason),
                "reason for {input:?}: {:?} should contain {reason:?}",
                err.reason()
            );
            let message = err.to_string();
            assert!(message.contains(&format!("{input:?}")), "{message}");
            assert!(
                message.contains(&format!("at position {position}")),
                "{message}"
            );
        }
    }

    #[test]
    fn error_message_names_input_position_reason_and_remedy() {
        let err = LabelSelector::parse("app=web tier=db").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid label selector \"app=web tier=db\" at position 8: expected ',' or end of \
                 string, found 'tier'; {SYNTAX_HINT}"
            )
        );
    }

    #[test]
    fn matching_rules() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("replicas", "5")]);
        let table: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (db,web)", true),
            ("app in (db)", false),
            ("missing in (x)", false),
            ("app notin (db)", true),
            ("app notin (web)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("replicas>4", true),
            ("replicas>5", false),
            ("replicas<6", true),
            ("app>1", false),
            ("missing<1", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("missing=", false),
            ("missing in ()", false),
        ];
        for (input, expected) in table {
            let selector = LabelSelector::parse(input).unwrap();
            assert_eq!(selector.matches(&web), *expected, "{input:?}");
        }
        let empty_value = labels(&[("app", "")]);
        assert!(LabelSelector::parse("app=").unwrap().matches(&empty_value));
        assert!(
            LabelSelector::parse("app in ()")
                .unwrap()
                .matches(&empty_value)
        );
        assert!(!LabelSelector::parse("app!=").unwrap().matches(&empty_value));
    }

    #[test]
    fn matches_json_labels_and_objects() {
        let object = KubeObject::new(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "web", "weird": 1}},
        }))
        .unwrap();
        let app = LabelSelector::parse("app=web").unwrap();
        assert!(app.matches_object(&object));
        assert!(app.matches(object.labels().unwrap()));
        // A non-string label value is present but equals nothing.
        assert!(
            LabelSelector::parse("weird")
                .unwrap()
                .matches_object(&object)
        );
        assert!(
            !LabelSelector::parse("weird=1")
                .unwrap()
                .matches_object(&object)
        );
        let unlabelled = KubeObject::new(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"},
        }))
        .unwrap();
        assert!(!app.matches_object(&unlabelled));
        assert!(
            LabelSelector::parse("!app")
                .unwrap()
                .matches_object(&unlabelled)
        );
        assert!(LabelSelector::everything().matches_object(&unlabelled));
    }

    #[test]
    fn structured_form() {
        let selector = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "release", "operator": "Exists", "values": null},
            ],
        }))
        .unwrap();
        assert_eq!(
            selector.to_string(),
            "app=web,!canary,env notin (dev),release,tier in (edge,front)"
        );
        assert_eq!(
            LabelSelector::parse(&selector.to_string()).unwrap(),
            selector
        );
        assert!(
            LabelSelector::from_json(&json!({}))
                .unwrap()
                .is_everything()
        );
        assert!(
            LabelSelector::from_json(&Value::Null)
                .unwrap()
                .is_everything()
        );
        assert!(
            LabelSelector::from_json(&json!({"matchLabels": {}, "matchExpressions": []}))
                .unwrap()
                .matches(&labels(&[]))
        );
    }

    #[test]
    fn structured_form_errors_name_the_field() {
        let table: &[(Value, &str, &str)] = &[
            (json!([]), "", "expected an object"),
            (json!({"matchLabel": {}}), "matchLabel", "unknown field"),
            (json!({"matchLabels": []}), "matchLabels", "expected a map"),
            (
                json!({"matchLabels": {"app": 1}}),
                "matchLabels.app",
                "expected a string value",
            ),
            (
                json!({"matchLabels": {"-app": "x"}}),
                "matchLabels.-app",
                "invalid label key",
            ),
            (
                json!({"matchLabels": {"app": "x y"}}),
                "matchLabels.app",
                "invalid label value",
            ),
            (
                json!({"matchExpressions": {}}),
                "matchExpressions",
                "expected a list",
            ),
            (
                json!({"matchExpressions": [1]}),
                "matchExpressions[0]",
                "expected an object",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "a", "operator": "Equals", "values": ["x"]}]}),
                "matchExpressions[1].operator",
                "\"Equals\" is not a valid operator",
            ),
            (
                json!({"matchExpressions": [{"operator": "Exists"}]}),
                "matchExpressions[0].key",
                "missing",
            ),
            (
                json!({"matchExpressions": [{"key": "a"}]}),
                "matchExpressions[0].operator",
                "missing",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
                "matchExpressions[0].values",
                "must not be empty",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "matchExpressions[0].values",
                "must be empty",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "not ok"]}]}),
                "matchExpressions[0].values[1]",
                "invalid label value",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [true]}]}),
                "matchExpressions[0].values[0]",
                "expected a string",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "value": ["x"]}]}),
                "matchExpressions[0].value",
                "unknown field",
            ),
        ];
        for (input, field, reason) in table {
            match LabelSelector::from_json(input) {
                Err(LabelSelectorError::Field {
                    field: f,
                    reason: r,
                }) => {
                    assert_eq!(f, *field, "field for {input}");
                    assert!(
                        r.contains(reason),
                        "reason for {input}: {r:?} should contain {reason:?}"
                    );
                }
                other => panic!("{input} should fail on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn requirement_constructor_validates() {
        assert!(Requirement::new("app", Operator::Equals, ["web"]).is_ok());
        let err = Requirement::new("app", Operator::Equals, ["a", "b"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid label selector: field values: exactly one value is required for = and !="
        );
        let err = Requirement::new("app", Operator::GreaterThan, ["x"]).unwrap_err();
        assert!(err.to_string().contains("field values[0]"), "{err}");
        let err = Requirement::new("a b", Operator::Exists, Vec::<String>::new()).unwrap_err();
        assert!(err.to_string().contains("field key"), "{err}");
    }

    // ---- property tests ----

    fn name_part() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?"
            .prop_filter("keywords cannot be written as keys", |s| {
                s != "in" && s != "notin"
            })
    }

    fn key() -> impl Strategy<Value = String> {
        (
            proptest::option::of("[a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?(\\.[a-z0-9]{1,5}){0,2}"),
            name_part(),
        )
            .prop_map(|(prefix, name)| match prefix {
                Some(prefix) => format!("{prefix}/{name}"),
                None => name,
            })
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just(String::new()),
            6 => "[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?",
        ]
    }

    fn requirement() -> impl Strategy<Value = Requirement> {
        (
            key(),
            0..8u8,
            proptest::collection::vec(value(), 1..4),
            0..1000i64,
        )
            .prop_map(|(key, op, values, number)| {
                let (operator, values) = match op {
                    0 => (Operator::Equals, vec![values[0].clone()]),
                    1 => (Operator::NotEquals, vec![values[0].clone()]),
                    2 => (Operator::In, values),
                    3 => (Operator::NotIn, values),
                    4 => (Operator::Exists, vec![]),
                    5 => (Operator::DoesNotExist, vec![]),
                    6 => (Operator::GreaterThan, vec![number.to_string()]),
                    _ => (Operator::LessThan, vec![number.to_string()]),
                };
                Requirement::new(&key, operator, values).unwrap()
            })
    }

    fn selector() -> impl Strategy<Value = LabelSelector> {
        proptest::collection::vec(requirement(), 0..5).prop_map(LabelSelector::new)
    }

    /// The semantics written out from the definitions, independently of `Requirement::matches`.
    fn reference_match(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
        selector.requirements().iter().all(|r| {
            let label = labels.get(r.key());
            let listed = |v: &String| r.values().iter().any(|x| x == v);
            match r.operator() {
                Operator::Equals | Operator::In => matches!(label, Some(v) if listed(v)),
                Operator::NotEquals | Operator::NotIn => !matches!(label, Some(v) if listed(v)),
                Operator::Exists => label.is_some(),
                Operator::DoesNotExist => label.is_none(),
                Operator::GreaterThan => matches!(
                    (label.and_then(|v| v.parse::<i64>().ok()), r.values().first().and_then(|v| v.parse::<i64>().ok())),
                    (Some(l), Some(b)) if l > b
                ),
                Operator::LessThan => matches!(
                    (label.and_then(|v| v.parse::<i64>().ok()), r.values().first().and_then(|v| v.parse::<i64>().ok())),
                    (Some(l), Some(b)) if l < b
                ),
            }
        })
    }

    /// Labels drawn from the selector's own keys and values, so requirements are often met.
    fn selector_and_labels() -> impl Strategy<Value = (LabelSelector, BTreeMap<String, String>)> {
        selector().prop_flat_map(|selector| {
            let keys: Vec<String> = selector
                .requirements()
                .iter()
                .map(|r| r.key().to_string())
                .chain(["other".to_string()])
                .collect();
            let mut values: Vec<String> = selector
                .requirements()
                .iter()
                .flat_map(|r| r.values().iter().cloned())
                .collect();
            values.extend([
                "x".to_string(),
                "0".to_string(),
                "999".to_string(),
                String::new(),
            ]);
            let entry = (
                proptest::sample::select(keys),
                proptest::sample::select(values),
            );
            proptest::collection::btree_map(entry.0, entry.1, 0..6)
                .prop_map(move |labels| (selector.clone(), labels))
        })
    }

    fn token_soup() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("app".to_string()),
                Just("a.b/c".to_string()),
                Just("in".to_string()),
                Just("notin".to_string()),
                Just("=".to_string()),
                Just("==".to_string()),
                Just("!=".to_string()),
                Just("!".to_string()),
                Just("(".to_string()),
                Just(")".to_string()),
                Just(",".to_string()),
                Just(">".to_string()),
                Just("<".to_string()),
                Just(" ".to_string()),
                Just("7".to_string()),
                Just("é".to_string()),
                Just("\u{0}".to_string()),
            ],
            0..16,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn print_then_parse_is_identity(selector in selector()) {
            let printed = selector.to_string();
            prop_assert_eq!(LabelSelector::parse(&printed).unwrap(), selector, "printed: {}", printed);
        }

        #[test]
        fn matching_agrees_with_reference((selector, labels) in selector_and_labels()) {
            prop_assert_eq!(selector.matches(&labels), reference_match(&selector, &labels));
            let json: Map<String, Value> = labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            prop_assert_eq!(selector.matches(&json), selector.matches(&labels));
        }

        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = LabelSelector::parse(&input);
        }

        #[test]
        fn token_soup_parses_or_errors_inside_the_input(input in token_soup()) {
            match LabelSelector::parse(&input) {
                Ok(selector) => {
                    let reparsed = LabelSelector::parse(&selector.to_string()).unwrap();
                    prop_assert_eq!(reparsed, selector);
                }
                Err(err) => {
                    let position = err.position().unwrap();
                    prop_assert!(position <= input.len());
                    prop_assert!(input.is_char_boundary(position));
                }
            }
        }
    }
}
