//! Instances generated from the spec's schemas, to feed the response
//! parsers.

use super::*;

/// Which instance of a schema to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Shape {
    /// Every property; the k-th non-null `oneOf` branch and enum value.
    Full(usize),
    /// Only required properties; first branches.
    Minimal,
    /// Every property, with explicit `null` for the optional nullable ones.
    Nulls,
}

impl Shape {
    const ALL: [Shape; 6] = [
        Shape::Full(0),
        Shape::Full(1),
        Shape::Full(2),
        Shape::Full(3),
        Shape::Minimal,
        Shape::Nulls,
    ];

    pub(crate) fn pick(self, choices: usize) -> usize {
        match self {
            Shape::Full(k) => k % choices,
            Shape::Minimal | Shape::Nulls => 0,
        }
    }
}

impl Spec {
    pub(crate) fn generate(&self, schema: &Value, shape: Shape) -> Value {
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let choices: Vec<&Value> = branches
                .iter()
                .filter(|b| !self.is_null_schema(b))
                .collect();
            return self.generate(choices[shape.pick(choices.len())], shape);
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return values[shape.pick(values.len())].clone();
        }
        match non_null_type(schema) {
            Some("object") => self.generate_object(schema, shape),
            Some("array") => {
                if let Some(prefix) = schema.get("prefixItems").and_then(Value::as_array) {
                    return prefix.iter().map(|s| self.generate(s, shape)).collect();
                }
                let count = schema
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .max(1);
                (0..count)
                    .map(|_| self.generate(&schema["items"], shape))
                    .collect()
            }
            Some("string") => Value::String(sample_string(schema)),
            Some("integer") => {
                let min = schema.get("minimum").and_then(Value::as_u64).unwrap_or(0);
                json!(min.max(1))
            }
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            _ => panic!("cannot generate an instance of {schema}"),
        }
    }

    pub(crate) fn generate_object(&self, schema: &Value, shape: Shape) -> Value {
        let required = array_or_empty(schema.get("required"));
        let mut object = Map::new();
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, property) in properties.into_iter().flatten() {
            let is_required = required.iter().any(|r| r == name.as_str());
            let value = match shape {
                Shape::Minimal if !is_required => continue,
                Shape::Nulls if !is_required && self.is_nullable(property) => Value::Null,
                _ => self.generate(property, shape),
            };
            object.insert(name.clone(), value);
        }
        Value::Object(object)
    }

    /// The distinct instances of a schema over all shapes.
    pub(crate) fn instances(&self, schema: &Value) -> Vec<Value> {
        let mut instances: Vec<Value> = Vec::new();
        for shape in Shape::ALL {
            let instance = self.generate(schema, shape);
            if !instances.contains(&instance) {
                instances.push(instance);
            }
        }
        instances
    }
}

fn sample_string(schema: &Value) -> String {
    if schema.get("format").and_then(Value::as_str) == Some("date-time") {
        return DATE_TIME.to_owned();
    }
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |m| m as usize);
    let mut s = String::from("generated");
    while s.len() < min {
        s.push('x');
    }
    s.truncate(max);
    s
}

#[test]
fn generated_instances_satisfy_their_schemas() {
    let spec = Spec::load();
    let names: Vec<&String> = spec.doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    for name in names {
        // Server-sent events only (its `id` has a `pattern`); no JSON body.
        if name == "ReadEvent" {
            continue;
        }
        let schema = json!({ "$ref": format!("{SCHEMA_REF_PREFIX}{name}") });
        for instance in spec.instances(&schema) {
            let errors = spec.errors(&schema, &instance);
            assert!(
                errors.is_empty(),
                "{name}: {instance} is invalid: {errors:?}"
            );
        }
    }
}
