//! Minimal napi-rs binding of `cedar-policy` for a cost comparison with cedar-wasm.
//!
//! `CedarEngine#load(policiesText, schemaText|null, entitiesJson)` parses the policy set
//! (re-keyed by `@id` annotations, else `policy<N>`, like the service's bundle.ts), the
//! schema and the static entities once. `isAuthorized(requestJson)` (or
//! `isAuthorizedObject(request)`) evaluates one request; its `entities` are upserted
//! over the static ones (the request's entity replaces a loaded one with the same uid).

use std::collections::HashSet;
use std::str::FromStr;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision, Entities, Entity, EntityUid, PolicyId,
    PolicySet, Request, Schema,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{json, Value};

#[napi]
pub fn cedar_version() -> String {
    cedar_policy::get_sdk_version().to_string()
}

struct Loaded {
    policies: PolicySet,
    schema: Option<Schema>,
    entities: Entities,
    policy_ids: Vec<String>,
}

#[napi]
pub struct CedarEngine {
    loaded: Option<Loaded>,
    authorizer: Authorizer,
}

fn err(msg: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(Status::InvalidArg, msg.to_string())
}

/// A miette-style message including the cause chain (Display + sources).
fn message(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

fn failure(errors: Vec<String>) -> Value {
    json!({ "type": "failure", "errors": errors })
}

fn parse_uid(v: Value, what: &str) -> std::result::Result<EntityUid, String> {
    EntityUid::from_json(v).map_err(|e| format!("failed to parse {what}: {}", message(&e)))
}

#[napi]
impl CedarEngine {
    #[napi(constructor)]
    pub fn new() -> Self {
        CedarEngine { loaded: None, authorizer: Authorizer::new() }
    }

    /// Parses and keeps the policies, the schema (Cedar or JSON syntax) and the static
    /// entities (Cedar JSON entity array). Throws with Cedar's messages on failure;
    /// the previous state stays loaded then.
    #[napi]
    pub fn load(
        &mut self,
        policies_text: String,
        schema_text: Option<String>,
        entities_json: String,
    ) -> napi::Result<Vec<String>> {
        let parsed = PolicySet::from_str(&policies_text).map_err(|e| err(message(&e)))?;
        let mut policies = PolicySet::new();
        let mut policy_ids = Vec::new();
        // Keep source order: PolicySet numbers them policy0..N in text order.
        let mut all: Vec<_> = parsed.policies().collect();
        all.sort_by_key(|p| {
            p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(usize::MAX)
        });
        for (index, p) in all.into_iter().enumerate() {
            let id = p.annotation("id").map(str::to_string).unwrap_or_else(|| format!("policy{index}"));
            policies
                .add(p.new_id(PolicyId::new(&id)))
                .map_err(|e| err(format!("duplicate policy id \"{id}\": {}", message(&e))))?;
            policy_ids.push(id);
        }
        let schema = match schema_text.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) if text.starts_with('{') => {
                Some(Schema::from_json_str(text).map_err(|e| err(message(&e)))?)
            }
            Some(text) => Some(Schema::from_cedarschema_str(text).map_err(|e| err(message(&e)))?.0),
        };
        let entities =
            Entities::from_json_str(&entities_json, schema.as_ref()).map_err(|e| err(message(&e)))?;
        self.loaded = Some(Loaded { policies, schema, entities, policy_ids: policy_ids.clone() });
        Ok(policy_ids)
    }

    /// `request` as a JSON string: {principal, action, resource, context?, entities?}.
    /// Returns a JSON string: {type:"success", decision, reasons, errors} or {type:"failure", errors}.
    #[napi]
    pub fn is_authorized(&self, request_json: String) -> napi::Result<String> {
        let value: Value = serde_json::from_str(&request_json).map_err(err)?;
        self.authorize_value(value)
    }

    /// Same, with the request passed as a JS object (converted by napi's serde-json support).
    #[napi]
    pub fn is_authorized_object(&self, request: Value) -> napi::Result<String> {
        self.authorize_value(request)
    }

    #[napi(getter)]
    pub fn policy_ids(&self) -> Vec<String> {
        self.loaded.as_ref().map(|l| l.policy_ids.clone()).unwrap_or_default()
    }
}

impl CedarEngine {
    fn authorize_value(&self, value: Value) -> napi::Result<String> {
        let loaded = self.loaded.as_ref().ok_or_else(|| err("no policies loaded"))?;
        let answer = match evaluate(&self.authorizer, loaded, value) {
            Ok(v) => v,
            Err(errors) => failure(errors),
        };
        Ok(answer.to_string())
    }
}

fn evaluate(
    authorizer: &Authorizer,
    loaded: &Loaded,
    value: Value,
) -> std::result::Result<Value, Vec<String>> {
    let Value::Object(mut map) = value else {
        return Err(vec!["request must be a JSON object".into()]);
    };
    let schema = loaded.schema.as_ref();
    let mut errs = Vec::new();
    let principal = parse_uid(map.remove("principal").unwrap_or(Value::Null), "principal").map_err(|e| errs.push(e));
    let action = parse_uid(map.remove("action").unwrap_or(Value::Null), "action").map_err(|e| errs.push(e));
    let resource = parse_uid(map.remove("resource").unwrap_or(Value::Null), "resource").map_err(|e| errs.push(e));
    let (Ok(principal), Ok(action), Ok(resource)) = (principal, action, resource) else {
        return Err(errs);
    };
    let context_json = map.remove("context").unwrap_or_else(|| json!({}));
    let context = Context::from_json_value(context_json, schema.map(|s| (s, &action)))
        .map_err(|e| vec![message(&e)])?;
    // Request validation whenever there is a schema (the service passes validateRequest: true).
    let request = Request::new(principal, action, resource, context, schema).map_err(|e| errs.push(message(&e)));

    // The request's own entities replace loaded ones with the same uid.
    let extra = match map.remove("entities") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(vec!["entities must be an array".into()]),
    };
    let mut owned: Option<Entities> = None;
    // `"staticEntities": false`: `entities` is the whole entity set for this call, parsed like
    // cedar-wasm does (Entities::from_json_value with the schema); the loaded entities are ignored.
    let standalone = matches!(map.get("staticEntities"), Some(Value::Bool(false)));
    if standalone {
        match Entities::from_json_value(Value::Array(extra), schema) {
            Ok(e) => owned = Some(e),
            Err(e) => errs.push(message(&e)),
        }
    } else if !extra.is_empty() {
        let mut parsed = Vec::with_capacity(extra.len());
        let mut seen = HashSet::new();
        for item in extra {
            match Entity::from_json_value(item, schema) {
                Ok(entity) => {
                    if !seen.insert(entity.uid()) {
                        errs.push(format!("duplicate entity entry `{}`", entity.uid()));
                    }
                    parsed.push(entity);
                }
                Err(e) => errs.push(message(&e)),
            }
        }
        if errs.is_empty() {
            match loaded.entities.clone().upsert_entities(parsed, schema) {
                Ok(e) => owned = Some(e),
                Err(e) => errs.push(message(&e)),
            }
        }
    }
    let Ok(request) = request else { return Err(errs) };
    if !errs.is_empty() {
        return Err(errs);
    }
    let entities = owned.as_ref().unwrap_or(&loaded.entities);
    let response = authorizer.is_authorized(&request, &loaded.policies, entities);
    let decision = match response.decision() {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
    };
    let reasons: Vec<String> = response.diagnostics().reason().map(|id| id.to_string()).collect();
    let errors: Vec<Value> = response
        .diagnostics()
        .errors()
        .map(|e| {
            let AuthorizationError::PolicyEvaluationError(pe) = e;
            json!({ "policyId": pe.policy_id().to_string(), "message": pe.inner().to_string() })
        })
        .collect();
    Ok(json!({ "type": "success", "decision": decision, "reasons": reasons, "errors": errors }))
}

/// Diagnostic: average ns per stage over `n` repetitions of one request (no request entities path).
#[napi]
impl CedarEngine {
    #[napi]
    pub fn profile_stages(&self, request_json: String, n: u32) -> napi::Result<String> {
        use std::time::Instant;
        let loaded = self.loaded.as_ref().ok_or_else(|| err("no policies loaded"))?;
        let schema = loaded.schema.as_ref();
        let mut t = [0u128; 6];
        for _ in 0..n {
            let s = Instant::now();
            let mut v: Value = serde_json::from_str(&request_json).map_err(err)?;
            let m = v.as_object_mut().unwrap();
            t[0] += s.elapsed().as_nanos();
            let s = Instant::now();
            let p = EntityUid::from_json(m.remove("principal").unwrap()).map_err(err)?;
            let a = EntityUid::from_json(m.remove("action").unwrap()).map_err(err)?;
            let r = EntityUid::from_json(m.remove("resource").unwrap()).map_err(err)?;
            t[1] += s.elapsed().as_nanos();
            let s = Instant::now();
            let c = Context::from_json_value(m.remove("context").unwrap(), schema.map(|sc| (sc, &a))).map_err(err)?;
            t[2] += s.elapsed().as_nanos();
            let s = Instant::now();
            let req = Request::new(p, a, r, c, schema).map_err(err)?;
            t[3] += s.elapsed().as_nanos();
            let s = Instant::now();
            let resp = self.authorizer.is_authorized(&req, &loaded.policies, &loaded.entities);
            t[4] += s.elapsed().as_nanos();
            let s = Instant::now();
            let out = json!({"d": format!("{:?}", resp.decision()), "r": resp.diagnostics().reason().map(|x| x.to_string()).collect::<Vec<_>>()}).to_string();
            std::hint::black_box(out);
            t[5] += s.elapsed().as_nanos();
        }
        let n = n as u128;
        Ok(json!({"json_parse": t[0]/n, "uids": t[1]/n, "context": t[2]/n, "request_new": t[3]/n, "authorize": t[4]/n, "serialize": t[5]/n}).to_string())
    }
}
