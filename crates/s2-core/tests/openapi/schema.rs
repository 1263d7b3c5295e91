//! A small JSON-schema checker, and the checks that it catches what it
//! should.

use super::*;

impl Spec {
    /// Everything wrong with `value` under `schema`. Stricter than JSON
    /// Schema in one way: a property the schema does not declare is an error.
    pub(crate) fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate(schema, value, "$", &mut errors);
        errors
    }

    pub(crate) fn validate(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let schema = self.resolve(schema);
        if let Some(keyword) = UNSUPPORTED_KEYWORDS
            .iter()
            .find(|k| schema.get(**k).is_some())
        {
            panic!("{at}: schema keyword {keyword:?} is not supported by this checker");
        }
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let mut failures = Vec::new();
            for (i, branch) in branches.iter().enumerate() {
                let branch_errors = self.errors(branch, value);
                if !branch_errors.is_empty() {
                    failures.push(format!("branch {i}: {}", branch_errors.join("; ")));
                }
            }
            let matched = branches.len() - failures.len();
            if matched != 1 {
                errors.push(format!(
                    "{at}: matches {matched} oneOf branches, not 1 [{}]",
                    failures.join(" | ")
                ));
            }
        }
        let allowed = types(schema);
        if !allowed.is_empty() && !allowed.iter().any(|t| type_matches(t, value)) {
            errors.push(format!("{at}: expected {allowed:?}, got {value}"));
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && !values.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {values:?}"));
        }
        // `int64` is whatever serde_json holds (the spec's `u64` schema is
        // `int64`); `int32` bounds are checked.
        if schema.get("format").and_then(Value::as_str) == Some("int32")
            && value.is_number()
            && value.as_i64().and_then(|n| i32::try_from(n).ok()).is_none()
        {
            errors.push(format!("{at}: {value} does not fit int32"));
        }
        if let Some(n) = value.as_f64() {
            check_bounds(
                schema,
                n,
                ("minimum", "maximum"),
                &format!("{at}: {value}"),
                errors,
            );
        }
        match value {
            Value::String(s) => self.validate_string(schema, s, at, errors),
            Value::Array(items) => self.validate_array(schema, items, at, errors),
            Value::Object(object)
                if schema.get("properties").is_some() || allowed.contains(&"object") =>
            {
                self.validate_object(schema, object, at, errors);
            }
            _ => {}
        }
    }

    pub(crate) fn validate_string(
        &self,
        schema: &Value,
        s: &str,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let len = s.chars().count() as f64;
        check_bounds(
            schema,
            len,
            ("minLength", "maxLength"),
            &format!("{at}: {s:?}"),
            errors,
        );
        if schema.get("format").and_then(Value::as_str) == Some("date-time")
            && OffsetDateTime::parse(s, &Rfc3339).is_err()
        {
            errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
        }
    }

    pub(crate) fn validate_array(
        &self,
        schema: &Value,
        items: &[Value],
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let len = items.len() as f64;
        let what = format!("{at}: {len} items");
        check_bounds(schema, len, ("minItems", "maxItems"), &what, errors);
        let prefix = array_or_empty(schema.get("prefixItems"));
        for (i, (item_schema, item)) in prefix.iter().zip(items).enumerate() {
            self.validate(item_schema, item, &format!("{at}[{i}]"), errors);
        }
        let rest = items.iter().enumerate().skip(prefix.len());
        match schema.get("items") {
            Some(Value::Bool(false)) if items.len() > prefix.len() => {
                errors.push(format!("{at}: more than {} items", prefix.len()));
            }
            Some(item_schema @ Value::Object(_)) => {
                for (i, item) in rest {
                    self.validate(item_schema, item, &format!("{at}[{i}]"), errors);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn validate_object(
        &self,
        schema: &Value,
        object: &Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, value) in object {
            match properties.get(name) {
                Some(property) => self.validate(property, value, &format!("{at}.{name}"), errors),
                None => errors.push(format!("{at}: property {name:?} is not declared")),
            }
        }
        for required in array_or_empty(schema.get("required")) {
            let required = required.as_str().expect("required names are strings");
            if !object.contains_key(required) {
                errors.push(format!("{at}: required property {required:?} is missing"));
            }
        }
    }

    /// A query string value, typed as its schema says.
    pub(crate) fn query_value(&self, schema: &Value, raw: &str) -> Value {
        let as_string = || Value::String(raw.to_owned());
        match non_null_type(self.resolve(schema)) {
            Some("integer") => raw
                .parse::<u64>()
                .map(Value::from)
                .or_else(|_| raw.parse::<i64>().map(Value::from))
                .unwrap_or_else(|_| as_string()),
            Some("boolean") => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => as_string(),
            },
            _ => as_string(),
        }
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown schema type {other:?}"),
    }
}

/// Reports `value` outside the schema's `(lower, upper)` bound keywords.
fn check_bounds(
    schema: &Value,
    value: f64,
    (lower, upper): (&str, &str),
    what: &str,
    errors: &mut Vec<String>,
) {
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    if bound(lower).is_some_and(|min| value < min) {
        errors.push(format!("{what} is below {lower} {}", schema[lower]));
    }
    if bound(upper).is_some_and(|max| value > max) {
        errors.push(format!("{what} is above {upper} {}", schema[upper]));
    }
}

#[test]
fn checker_catches_violations() {
    let spec = Spec::load();
    let create_stream = json!({ "$ref": "#/components/schemas/CreateStreamRequest" });
    assert_eq!(
        spec.errors(&create_stream, &json!({"stream": "s"})),
        Vec::<String>::new()
    );
    for bad in [
        json!({}),
        json!({"stream": "s", "extra": 1}),
        json!({"stream": 5}),
        json!({"stream": ""}),
        json!({"stream": "s", "config": {"storage_class": "ultra"}}),
        json!({"stream": "s", "config": {"retention_policy": {"age": -1}}}),
        json!({"stream": "s", "config": {"retention_policy": {"age": 1, "infinite": {}}}}),
        json!({"stream": "s", "config": {"timestamping": {"uncapped": "yes"}}}),
        json!({"stream": "s", "config": {"delete_on_empty": {"min_age_secs": 1.5}}}),
    ] {
        assert!(
            !spec.errors(&create_stream, &bad).is_empty(),
            "accepted {bad}"
        );
    }
    let token = json!({ "$ref": "#/components/schemas/AccessTokenInfo" });
    let bad_date = json!({"id": "t", "scope": {}, "expires_at": "tomorrow"});
    assert!(!spec.errors(&token, &bad_date).is_empty());
    let record = json!({ "$ref": "#/components/schemas/AppendRecord" });
    assert!(
        !spec
            .errors(&record, &json!({"headers": [["only-name"]]}))
            .is_empty()
    );
    let gauge = json!({ "$ref": "#/components/schemas/GaugeMetric" });
    let extra_item = json!({"name": "g", "unit": "bytes", "values": [[1, 2.0, 3]]});
    assert!(!spec.errors(&gauge, &extra_item).is_empty());
    let metric = json!({ "$ref": "#/components/schemas/ScalarMetric" });
    let gauge_point = json!({"name": "g", "unit": "bytes", "values": [[2_147_483_648_u64, 1.0]]});
    assert!(!spec.errors(&gauge, &gauge_point).is_empty());
    assert!(
        !spec
            .errors(&metric, &json!({"name": "m", "unit": "bytes"}))
            .is_empty()
    );
    let op = spec.op("list_basins");
    assert_eq!(
        spec.query_value(&op.param("query", "limit").unwrap()["schema"], "1001"),
        json!(1001)
    );
    assert!(
        !spec
            .errors(&op.param("query", "limit").unwrap()["schema"], &json!(1001))
            .is_empty()
    );
    assert!(match_template("/streams/{stream}", "/streams/a%2Fb").is_some());
    assert!(match_template("/streams/{stream}", "/streams/a/b").is_none());
    assert!(match_template("/streams/{stream}", "/streams/").is_none());
}
