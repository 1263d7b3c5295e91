//! The spec: its operations, parameters and schemas, loaded from
//! `tests/data/openapi.json`.

use super::*;

const SPEC_JSON: &str = include_str!("../data/openapi.json");
const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];
/// Value constraints this checker does not implement: meeting one fails
/// loudly instead of letting a value pass unchecked.
pub(crate) const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "allOf",
    "anyOf",
    "not",
    "const",
    "pattern",
    "patternProperties",
    "additionalProperties",
    "uniqueItems",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
pub(crate) const DATE_TIME: &str = "2026-01-01T00:00:00Z";
pub(crate) const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// One operation of the spec, with what the checks need.
pub(crate) struct SpecOp {
    pub(crate) id: String,
    pub(crate) method: Method,
    /// Path template relative to the server URL (which ends in `/v1`).
    pub(crate) template: String,
    /// Path-item and operation parameters.
    pub(crate) params: Vec<Value>,
    /// Schema of the `application/json` request body, if any.
    pub(crate) body_schema: Option<Value>,
    /// Documented statuses, with the schema of their `application/json` body.
    pub(crate) responses: Vec<(u16, Option<Value>)>,
    /// Server URL templates (path-level servers override the root ones).
    pub(crate) servers: Vec<String>,
}

impl SpecOp {
    pub(crate) fn params_in<'a>(
        &'a self,
        location: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.params.iter().filter(move |p| p["in"] == location)
    }

    pub(crate) fn param(&self, location: &str, name: &str) -> Option<&Value> {
        self.params.iter().find(|p| {
            p["in"] == location
                && p["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// Basin-scoped operations are served by `https://{basin}.b.s2.dev/v1`.
    pub(crate) fn is_basin_scoped(&self) -> bool {
        self.servers.iter().any(|s| s.contains("{basin}"))
    }

    pub(crate) fn response_schema(&self, status: u16) -> Option<&Value> {
        self.responses
            .iter()
            .find(|(s, _)| *s == status)
            .and_then(|(_, schema)| schema.as_ref())
    }
}

pub(crate) struct Spec {
    pub(crate) doc: Value,
    pub(crate) ops: Vec<SpecOp>,
}

impl Spec {
    pub(crate) fn load() -> Self {
        let doc: Value = serde_json::from_str(SPEC_JSON).expect("openapi.json is JSON");
        let root_servers = server_urls(&doc["servers"]);
        let mut ops = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            let servers = item
                .get("servers")
                .map_or_else(|| root_servers.clone(), server_urls);
            let shared = array_or_empty(item.get("parameters"));
            for (method, op) in item.as_object().expect("path item") {
                if !HTTP_METHODS.contains(&method.as_str()) {
                    continue;
                }
                let mut params = shared.clone();
                params.extend(array_or_empty(op.get("parameters")));
                assert!(
                    params.iter().all(|p| p["name"].is_string()),
                    "parameter $refs are not supported"
                );
                let responses = op["responses"]
                    .as_object()
                    .expect("responses")
                    .iter()
                    .map(|(status, r)| {
                        let schema = r.pointer("/content/application~1json/schema").cloned();
                        (status.parse().expect("numeric status"), schema)
                    })
                    .collect();
                ops.push(SpecOp {
                    id: op["operationId"].as_str().expect("operationId").to_owned(),
                    method: method.to_uppercase().parse().expect("HTTP method"),
                    template: template.clone(),
                    params,
                    body_schema: op
                        .pointer("/requestBody/content/application~1json/schema")
                        .cloned(),
                    responses,
                    servers: servers.clone(),
                });
            }
        }
        Self { doc, ops }
    }

    pub(crate) fn op(&self, id: &str) -> &SpecOp {
        self.ops
            .iter()
            .find(|op| op.id == id)
            .unwrap_or_else(|| panic!("no operation {id} in the spec"))
    }

    pub(crate) fn schema(&self, name: &str) -> &Value {
        let schema = &self.doc["components"]["schemas"][name];
        assert!(!schema.is_null(), "no schema {name} in the spec");
        schema
    }

    /// Follows `$ref`s (sibling keywords of a `$ref` are annotations here).
    pub(crate) fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference
                .strip_prefix(SCHEMA_REF_PREFIX)
                .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
            schema = self.schema(name);
        }
        schema
    }

    /// The operation serving `method` on `path` (relative to `/v1`), and its
    /// raw (still percent-encoded) path parameters.
    pub(crate) fn route(
        &self,
        method: &Method,
        path: &str,
    ) -> Option<(&SpecOp, BTreeMap<String, String>)> {
        self.ops
            .iter()
            .filter(|op| op.method == method)
            .find_map(|op| match_template(&op.template, path).map(|params| (op, params)))
    }

    pub(crate) fn is_nullable(&self, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        types(schema).contains(&"null")
            || schema
                .get("oneOf")
                .and_then(Value::as_array)
                .is_some_and(|branches| branches.iter().any(|b| self.is_null_schema(b)))
    }

    pub(crate) fn is_null_schema(&self, schema: &Value) -> bool {
        types(self.resolve(schema)) == ["null"]
    }
}

fn server_urls(servers: &Value) -> Vec<String> {
    servers
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| s["url"].as_str().expect("server url").to_owned())
        .collect()
}

pub(crate) fn array_or_empty(value: Option<&Value>) -> Vec<Value> {
    value.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Matches a path against a template; each `{param}` matches exactly one
/// non-empty segment.
pub(crate) fn match_template(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    if template.len() != path.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (t, p) in template.iter().zip(&path) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) if !p.is_empty() => {
                params.insert(name.to_owned(), (*p).to_owned());
            }
            Some(_) => return None,
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

pub(crate) fn schema_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")?
        .as_str()?
        .strip_prefix(SCHEMA_REF_PREFIX)
}

pub(crate) fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn non_null_type(schema: &Value) -> Option<&str> {
    types(schema).into_iter().find(|t| *t != "null")
}
