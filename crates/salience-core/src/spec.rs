//! Configs as data: one parser for every explainer, aggregator and metric
//! config of the workspace.
//!
//! A [`Spec`] is a name and `key = value` parameters, written as text
//! (`name` or `name:key=value,key=value`, the syntax of the explainer
//! registry and of `salience_aggregate::Aggregation`) or as a JSON object
//! (`{"name": "ig", "n_steps": 32}`). [`config_from`] turns its parameters
//! into a typed config with serde: it writes a *preset* (the config the
//! name stands for) as JSON, lays the parameters over it and deserializes
//! the result, so that a spec only names what differs from its preset.
//!
//! * Values are typed by the preset's value at the same key: a string
//!   stays a string (a layer called `1`), a number or a boolean is parsed
//!   as one; where the preset has no value, text that looks like a JSON
//!   number or boolean is one, anything else a string.
//! * Lists are written with `|` between elements (`layers=conv1|conv2`,
//!   `window=1|4|4`); a JSON array is the same.
//! * Nested keys use dots: `baseline.blur.sigma=5` sets the `sigma` of
//!   the `blur` variant of field `baseline` (enums are written the serde
//!   way: a unit variant by its name, `baseline=zeros`; a variant with
//!   data as a one-key object). A name that selects the variant the
//!   preset already has (`baseline=blur` over a blur preset) keeps the
//!   preset's data.
//! * Unknown keys, values of the wrong type and parameters that fail the
//!   config's [`Validate::validate`] are [`SalienceError::InvalidParameter`]
//!   errors naming the key, the value, the method and the accepted keys.
//!
//! JSON, not TOML: serde_json is already a dependency of this crate (the
//! records), a JSON object is as readable as a TOML table for a list of
//! specs, and TOML would add a crate for no new expressive power.
//!
//! ```
//! use salience_core::spec::{config_from, Spec, Validate};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct Cfg { n_steps: usize, layer: String, abs: bool }
//! impl Default for Cfg {
//!     fn default() -> Self { Cfg { n_steps: 50, layer: "conv".into(), abs: false } }
//! }
//! impl Validate for Cfg {}
//!
//! let s: Spec = "ig:n_steps=8,layer=1".parse()?;
//! let c: Cfg = config_from(&s.name, &Cfg::default(), &s.params)?;
//! assert_eq!(c, Cfg { n_steps: 8, layer: "1".into(), abs: false });
//! let j = Spec::from_json(r#"{"name": "ig", "abs": true}"#)?;
//! assert_eq!(j.to_string(), "ig:abs=true");
//! let e = config_from::<Cfg>("ig", &Cfg::default(), &[("bogus".into(), "1".into())]);
//! assert!(e.unwrap_err().to_string().contains("abs, layer, n_steps"));
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use crate::error::{Result, SalienceError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// A method name and its parameters, e.g. `integrated_gradients:n_steps=32`.
///
/// Names and keys are case-insensitive and stored lower-case; values are
/// kept as written. It parses with [`str::parse`] (or
/// [`Spec::from_json`]) and prints back with `Display`; the round trip is
/// exact. With serde, a spec reads from either form and writes as text,
/// so a run (panel, aggregators, metrics) is a JSON file of specs
/// ([`RunSpec`]).
///
/// ```
/// use salience_core::spec::Spec;
/// let s: Spec = "IG:n_steps=32, quadrature=riemann_left".parse()?;
/// assert_eq!(s.name, "ig");
/// assert_eq!(s.to_string(), "ig:n_steps=32,quadrature=riemann_left");
/// assert_eq!(s.to_string().parse::<Spec>()?, s);
/// assert!("saliency:abs".parse::<Spec>().is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    /// The method name (lower-case).
    pub name: String,
    /// `key = value` pairs in the order written (keys lower-case, unique).
    pub params: Vec<(String, String)>,
}

fn bad(key: &str, value: &str, reason: &str) -> SalienceError {
    SalienceError::invalid(key, value, reason)
}

/// Checks that a key or value is non-empty and free of `forbidden`.
fn check_token(token: &str, what: &str, forbidden: &str) -> Result<()> {
    if token.is_empty() {
        return Err(bad(what, "<empty>", "must not be empty"));
    }
    if let Some(c) = token.chars().find(|c| forbidden.contains(*c)) {
        return Err(bad(
            what,
            token,
            &format!("contains {c:?}, a separator of the spec syntax"),
        ));
    }
    Ok(())
}

impl Spec {
    /// A spec with no parameters. The name is trimmed and lower-cased and
    /// must be what the parser accepts (ASCII letters, digits, `_`, `-`,
    /// `+`), so that every spec prints back to text that parses to it.
    ///
    /// ```
    /// use salience_core::spec::Spec;
    /// assert_eq!(Spec::new("Saliency")?.to_string(), "saliency");
    /// assert!(Spec::new("a:b").is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(name: &str) -> Result<Self> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
        {
            return Err(bad(
                "explainer",
                &name,
                "a method name is ASCII letters, digits, `_`, `-` or `+`",
            ));
        }
        Ok(Spec {
            name,
            params: Vec::new(),
        })
    }

    /// Adds (or replaces) parameter `key` (trimmed, lower-cased) with
    /// `value` (trimmed). Both must be non-empty; the key may not contain
    /// `=`, and neither may contain `,`, `;`, `#` or a line break (the
    /// separators of the spec and panel syntax), so the spec prints back
    /// to text that parses to it.
    ///
    /// ```
    /// use salience_core::spec::Spec;
    /// let s = Spec::new("grad_cam")?.with("layer", "conv2")?;
    /// assert_eq!(s.to_string(), "grad_cam:layer=conv2");
    /// assert!(s.clone().with("", "x").is_err());
    /// assert!(s.with("layers", "a,b").is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with(mut self, key: &str, value: &str) -> Result<Self> {
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        check_token(&key, "explainer parameter name", "=,;#\n\r")?;
        check_token(value, &key, ",;#\n\r")?;
        match self.params.iter_mut().find(|(k, _)| *k == key) {
            Some(p) => p.1 = value.to_string(),
            None => self.params.push((key, value.to_string())),
        }
        Ok(self)
    }

    /// Parses a list: specs separated by `;` or new lines (blank entries
    /// and `#` comments skipped).
    ///
    /// ```
    /// use salience_core::spec::Spec;
    /// let panel = Spec::parse_list("saliency\n# a comment\nig:n_steps=8; grad_cam:layer=c")?;
    /// assert_eq!(panel.len(), 3);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn parse_list(text: &str) -> Result<Vec<Spec>> {
        text.split(['\n', ';'])
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::parse)
            .collect()
    }

    /// Parses the JSON form: a string in the text syntax, or an object
    /// with the method in `"name"` and the parameters as the other keys.
    /// Nested objects become dotted keys, arrays `|`-separated lists;
    /// the keys come in sorted order.
    ///
    /// ```
    /// use salience_core::spec::Spec;
    /// let s = Spec::from_json(r#"{"name": "ig", "n_steps": 16, "baseline": {"blur": {"sigma": 5}}}"#)?;
    /// assert_eq!(s.to_string(), "ig:baseline.blur.sigma=5,n_steps=16");
    /// let p = Spec::from_json(r#"{"name": "poly_cam", "layers": ["c1", "c2"]}"#)?;
    /// assert_eq!(p.to_string(), "poly_cam:layers=c1|c2");
    /// assert_eq!(Spec::from_json(r#""saliency:abs=true""#)?.to_string(), "saliency:abs=true");
    /// assert!(Spec::from_json(r#"{"n_steps": 16}"#).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_json(text: &str) -> Result<Spec> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| bad("spec", text, &format!("not JSON: {e}")))?;
        Spec::from_json_value(&v)
    }

    /// [`Spec::from_json`] of a parsed JSON value.
    pub fn from_json_value(v: &Value) -> Result<Spec> {
        let obj = match v {
            Value::String(s) => return s.parse(),
            Value::Object(o) => o,
            other => {
                return Err(bad(
                    "spec",
                    &other.to_string(),
                    "expected a string or an object with a \"name\"",
                ))
            }
        };
        let name = match obj.get("name") {
            Some(Value::String(n)) => n,
            _ => {
                return Err(bad(
                    "name",
                    &v.to_string(),
                    "a JSON spec needs a string \"name\"",
                ))
            }
        };
        let mut spec = Spec::new(name)?;
        for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != "name") {
            spec = flatten_into(spec, k, v)?;
        }
        Ok(spec)
    }
}

/// Adds the JSON value `v` at `key` to `spec` (objects as dotted keys).
fn flatten_into(mut spec: Spec, key: &str, v: &Value) -> Result<Spec> {
    match v {
        Value::Object(o) => {
            if o.is_empty() {
                return Err(bad(key, "{}", "an empty object sets nothing"));
            }
            for (k, inner) in o {
                spec = flatten_into(spec, &format!("{key}.{k}"), inner)?;
            }
            Ok(spec)
        }
        Value::Array(items) => {
            let parts = items
                .iter()
                .map(|i| scalar_text(key, i))
                .collect::<Result<Vec<_>>>()?;
            spec.with(key, &parts.join("|"))
        }
        scalar => spec.with(key, &scalar_text(key, scalar)?),
    }
}

fn scalar_text(key: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(s) => {
            if s.contains('|') {
                return Err(bad(key, s, "contains `|`, the list separator"));
            }
            Ok(s.clone())
        }
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(bad(
            key,
            &other.to_string(),
            "expected a string, number or boolean (or a list of them)",
        )),
    }
}

impl std::str::FromStr for Spec {
    type Err = SalienceError;

    fn from_str(spec: &str) -> Result<Self> {
        let (name, params) = match spec.split_once(':') {
            Some((n, p)) => (n, p),
            None => (spec, ""),
        };
        let mut out = Spec::new(name)
            .map_err(|_| bad("explainer", spec, "expected name or name:key=value,..."))?;
        for kv in params.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("explainer parameter", kv.trim(), "expected key=value"))?;
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty() || v.trim().is_empty() {
                return Err(bad("explainer parameter", kv.trim(), "empty key or value"));
            }
            if out.params.iter().any(|(key, _)| *key == k) {
                return Err(bad(&k, v.trim(), "parameter given twice"));
            }
            out = out.with(&k, v)?;
        }
        Ok(out)
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ':' } else { ',' })?;
        }
        Ok(())
    }
}

impl Serialize for Spec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Spec::from_json_value(&v).map_err(serde::de::Error::custom)
    }
}

/// A whole run as data: the explainer panel, the aggregators and the
/// metrics, each a list of [`Spec`]s (text or JSON objects).
///
/// ```
/// use salience_core::spec::RunSpec;
/// let run = RunSpec::from_json(r#"{
///     "explainers": ["saliency", {"name": "ig", "n_steps": 16}],
///     "aggregators": ["mean", "ucb:eps=-1"],
///     "metrics": []
/// }"#)?;
/// assert_eq!(run.explainers[1].to_string(), "ig:n_steps=16");
/// assert!(RunSpec::from_json(r#"{"explainers": [], "extra": 1}"#).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    /// The explainers (built by `salience_explain::registry::Registry`).
    pub explainers: Vec<Spec>,
    /// The aggregators (parsed by `salience_aggregate::Aggregation`).
    pub aggregators: Vec<Spec>,
    /// The metrics.
    pub metrics: Vec<Spec>,
}

impl RunSpec {
    /// Parses a run from JSON (unknown keys are errors).
    pub fn from_json(text: &str) -> Result<RunSpec> {
        serde_json::from_str(text).map_err(|e| bad("run spec", "<json>", &e.to_string()))
    }
}

/// A config that can check its own parameters. [`config_from`] and
/// [`from_json`] call it, so that bad parameters fail when a config is
/// built rather than deep inside a call. The default accepts everything.
pub trait Validate {
    /// `Ok` if every parameter is in its valid range, else an
    /// [`SalienceError::InvalidParameter`] naming it.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// The config of `method`: `preset` with `params` (dotted keys, text
/// values; see the [module docs](self)) laid over it, deserialized and
/// validated.
///
/// ```
/// use salience_core::spec::{config_from, Validate};
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Ig { n_steps: usize, sigma: f32 }
/// impl Validate for Ig {
///     fn validate(&self) -> salience_core::Result<()> {
///         if self.n_steps == 0 {
///             return Err(salience_core::SalienceError::invalid("n_steps", 0, "must be >= 1"));
///         }
///         Ok(())
///     }
/// }
/// let p = Ig { n_steps: 50, sigma: 0.5 };
/// let kv = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
/// assert_eq!(config_from("ig", &p, &kv("sigma", "2"))?, Ig { n_steps: 50, sigma: 2.0 });
/// assert!(config_from("ig", &p, &kv("n_steps", "-3")).is_err());
/// assert!(config_from("ig", &p, &kv("n_steps", "0")).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn config_from<T>(method: &str, preset: &T, params: &[(String, String)]) -> Result<T>
where
    T: Serialize + DeserializeOwned + Validate,
{
    let base = serde_json::to_value(preset).map_err(|e| {
        bad(
            method,
            "<preset>",
            &format!("this config cannot be written as data: {e}"),
        )
    })?;
    let cfg: T = match serde_json::from_value(overlay(&base, params.iter())) {
        Ok(c) => c,
        Err(e) => return Err(name_the_key::<T>(method, &base, params, e)),
    };
    cfg.validate()?;
    Ok(cfg)
}

/// Finds the parameter that makes deserialization fail (laying each over
/// the preset alone) and names it, its value and the accepted keys.
fn name_the_key<T: DeserializeOwned>(
    method: &str,
    base: &Value,
    params: &[(String, String)],
    whole: serde_json::Error,
) -> SalienceError {
    let named = |k: &str, val: &str, e: serde_json::Error| {
        let parent = k.rsplit_once('.').map(|(p, _)| p);
        let accepted = accepted_keys(base, parent);
        bad(
            k,
            val,
            &format!("{e} (a parameter of `{method}`; accepted keys: {accepted})"),
        )
    };
    // The key whose removal makes the rest deserialize, ...
    for (i, (k, val)) in params.iter().enumerate() {
        let others = params.iter().enumerate().filter(|(j, _)| *j != i);
        if serde_json::from_value::<T>(overlay(base, others.map(|(_, p)| p))).is_ok() {
            let e = serde_json::from_value::<T>(overlay(base, std::iter::once(&params[i])));
            return named(k, val, e.err().unwrap_or(whole));
        }
    }
    // ... else the first key that fails on its own, preferring a bad
    // value to a field that only its sibling keys would supply.
    let alone: Vec<_> = params
        .iter()
        .filter_map(|p| {
            let e = serde_json::from_value::<T>(overlay(base, std::iter::once(p))).err()?;
            Some((p, e))
        })
        .collect();
    let pick = alone
        .iter()
        .position(|(_, e)| !e.to_string().starts_with("missing field"))
        .or(if alone.is_empty() { None } else { Some(0) });
    match pick.and_then(|i| alone.into_iter().nth(i)) {
        Some(((k, val), e)) => named(k, val, e),
        None => bad(method, "<parameters>", &whole.to_string()),
    }
}

/// `base` with `params` laid over it in order. A one-key object of the
/// preset (an enum variant with data) is replaced, not merged, when a
/// key names another variant; objects the parameters built are merged.
fn overlay<'a>(base: &Value, params: impl Iterator<Item = &'a (String, String)>) -> Value {
    let mut v = base.clone();
    let mut touched = std::collections::HashSet::new();
    for (k, val) in params {
        set_path(&mut v, k, val, &mut touched);
    }
    v
}

/// The keys of the preset's object at dotted path `parent` (the top level
/// if `None`), comma-separated.
fn accepted_keys(base: &Value, parent: Option<&str>) -> String {
    let mut node = Some(base);
    for part in parent.into_iter().flat_map(|p| p.split('.')) {
        node = node.and_then(|n| n.get(part));
    }
    match node {
        Some(Value::Object(o)) => o.keys().cloned().collect::<Vec<_>>().join(", "),
        _ => "(none known at this level)".to_string(),
    }
}

/// Sets dotted `key` of `root` to the text `value`, typed by the value it
/// replaces.
fn set_path(
    root: &mut Value,
    key: &str,
    value: &str,
    touched: &mut std::collections::HashSet<String>,
) {
    let mut node = root;
    let mut parts = key.split('.').peekable();
    let mut path = String::new();
    while let Some(part) = parts.next() {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(part);
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(obj) = node else { return };
        if parts.peek().is_none() {
            let old = obj.get(part).cloned().unwrap_or(Value::Null);
            // A variant name over the same variant keeps the preset's data.
            if let Value::Object(o) = &old {
                if o.len() == 1 && o.contains_key(value) {
                    return;
                }
            }
            obj.insert(part.to_string(), typed(value, &old));
            return;
        }
        // A one-key object without `part` is another enum variant:
        // switching variants drops its data.
        if let Some(Value::Object(o)) = obj.get(part) {
            let switch = o.len() == 1 && parts.peek().is_some_and(|n| !o.contains_key(*n));
            if switch && !touched.contains(&path) {
                obj.insert(part.to_string(), Value::Null);
            }
        }
        touched.insert(path.clone());
        node = obj.entry(part.to_string()).or_insert(Value::Null);
    }
}

/// `text` as the JSON type of `hint` (the value it replaces).
fn typed(text: &str, hint: &Value) -> Value {
    match hint {
        Value::String(_) => Value::String(text.to_string()),
        Value::Array(items) => {
            let h = items.first().cloned().unwrap_or(Value::Null);
            Value::Array(text.split('|').map(|p| typed(p.trim(), &h)).collect())
        }
        Value::Object(_) => Value::String(text.to_string()),
        _ => guess(text),
    }
}

/// A JSON number or boolean if `text` reads as one, else a string.
fn guess(text: &str) -> Value {
    if let Ok(b) = text.parse::<bool>() {
        return Value::Bool(b);
    }
    if let Ok(u) = text.parse::<u64>() {
        return Value::from(u);
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && looks_numeric(text) => Value::from(f),
        _ => Value::String(text.to_string()),
    }
}

/// Rust's float parser also accepts `inf`, `nan` and `infinity`; a spec
/// value is a number only when it starts like one.
fn looks_numeric(text: &str) -> bool {
    text.trim_start_matches(['+', '-'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// A config written as JSON (every field, so it documents the setting).
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Cfg { n_steps: usize }
/// assert_eq!(salience_core::spec::to_json(&Cfg { n_steps: 3 })?, r#"{"n_steps":3}"#);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn to_json<T: Serialize>(config: &T) -> Result<String> {
    serde_json::to_string(config).map_err(|e| {
        bad(
            "config",
            "<value>",
            &format!("cannot be written as JSON: {e}"),
        )
    })
}

/// A config read from JSON and validated (missing keys take the config's
/// `Default` where it has `#[serde(default)]`; unknown keys are errors).
///
/// ```
/// use salience_core::spec::{from_json, Validate};
/// #[derive(Debug, PartialEq, Default, serde::Deserialize)]
/// #[serde(deny_unknown_fields, default)]
/// struct Cfg { n_steps: usize, abs: bool }
/// impl Validate for Cfg {}
/// assert_eq!(from_json::<Cfg>(r#"{"abs": true}"#)?, Cfg { n_steps: 0, abs: true });
/// assert!(from_json::<Cfg>(r#"{"bogus": 1}"#).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn from_json<T: DeserializeOwned + Validate>(text: &str) -> Result<T> {
    let cfg: T = serde_json::from_str(text).map_err(|e| bad("config", text, &e.to_string()))?;
    cfg.validate()?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    enum Base {
        Zeros,
        Constant(f32),
        Blur { sigma: f32, kernel_size: usize },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        n: usize,
        layer: String,
        layers: Vec<String>,
        base: Base,
        eps: f32,
    }

    impl Validate for Cfg {
        fn validate(&self) -> Result<()> {
            if self.n == 0 {
                return Err(SalienceError::invalid("n", 0, "must be >= 1"));
            }
            Ok(())
        }
    }

    fn preset() -> Cfg {
        Cfg {
            n: 4,
            layer: "conv".into(),
            layers: vec!["a".into()],
            base: Base::Blur {
                sigma: 50.0,
                kernel_size: 51,
            },
            eps: -1.0,
        }
    }

    fn build(text: &str) -> Result<Cfg> {
        let s: Spec = text.parse()?;
        config_from(&s.name, &preset(), &s.params)
    }

    #[test]
    fn values_are_typed_by_the_preset() {
        let c = build("m:n=7,layer=12,layers=x|y,eps=0.25").unwrap();
        assert_eq!(c.n, 7);
        assert_eq!(c.layer, "12");
        assert_eq!(c.layers, vec!["x", "y"]);
        assert_eq!(c.eps, 0.25);
    }

    #[test]
    fn enum_variants_and_nested_keys() {
        assert_eq!(build("m:base=zeros").unwrap().base, Base::Zeros);
        // Same variant name: the preset's data stays.
        assert_eq!(build("m:base=blur").unwrap().base, preset().base);
        assert_eq!(
            build("m:base.blur.sigma=5").unwrap().base,
            Base::Blur {
                sigma: 5.0,
                kernel_size: 51
            }
        );
        assert_eq!(
            build("m:base.constant=0.5").unwrap().base,
            Base::Constant(0.5)
        );
        // A variant name with data switches variant and sets it ...
        assert_eq!(
            build("m:base.constant=2").unwrap().base,
            Base::Constant(2.0)
        );
        // ... but keys of two variants at once are an error.
        assert!(build("m:base.blur.kernel_size=3,base.constant=2").is_err());
        // Keys building one struct variant over another preset variant.
        let p = Cfg {
            base: Base::Zeros,
            ..preset()
        };
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        let c: Cfg = config_from(
            "m",
            &p,
            &[kv("base.blur.sigma", "2"), kv("base.blur.kernel_size", "3")],
        )
        .unwrap();
        assert_eq!(
            c.base,
            Base::Blur {
                sigma: 2.0,
                kernel_size: 3
            }
        );
        // The key named in an error is the one whose removal fixes it.
        let e = config_from::<Cfg>(
            "m",
            &p,
            &[kv("base.blur.sigma", "2"), kv("base.blur.kernel_size", "x")],
        );
        match e {
            Err(SalienceError::InvalidParameter { name, .. }) => {
                assert_eq!(name, "base.blur.kernel_size")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_key_and_the_accepted_keys() {
        for (text, key) in [
            ("m:bogus=1", "bogus"),
            ("m:n=-3", "n"),
            ("m:n=x", "n"),
            ("m:eps=inf", "eps"),
            ("m:base=purple", "base"),
            ("m:base.blur.bogus=1", "base.blur.bogus"),
            ("m:n=0", "n"),
        ] {
            match build(text) {
                Err(SalienceError::InvalidParameter { name, reason, .. }) => {
                    assert_eq!(name, key, "{text}: {reason}");
                    if key != "n" || !text.ends_with("=0") {
                        assert!(reason.contains("accepted keys"), "{text}: {reason}");
                    }
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let e = build("m:bogus=1").unwrap_err().to_string();
        assert!(e.contains("base, eps, layer, layers, n"), "{e}");
    }

    #[test]
    fn json_specs_equal_text_specs() {
        let j = Spec::from_json(
            r#"{"name": "M", "n": 7, "layers": ["x", "y"], "base": {"blur": {"sigma": 5}}}"#,
        )
        .unwrap();
        // JSON objects list their keys sorted.
        let t: Spec = "m:base.blur.sigma=5,layers=x|y,n=7".parse().unwrap();
        assert_eq!(j, t);
        for bad in [
            "[1]",
            r#"{"name": 3}"#,
            r#"{"name": "m", "x": null}"#,
            r#"{"name": "m", "x": {}}"#,
            r#"{"name": "m", "x": "a,b"}"#,
            r#"{"name": "m", "x": ["a|b"]}"#,
            "{",
        ] {
            assert!(Spec::from_json(bad).is_err(), "{bad}");
        }
        // Serde: specs read from either form and write as text.
        let v: Vec<Spec> = serde_json::from_str(r#"["m:n=7", {"name": "m", "n": 7}]"#).unwrap();
        assert_eq!(v[0], v[1]);
        assert_eq!(serde_json::to_string(&v[0]).unwrap(), r#""m:n=7""#);
    }

    #[test]
    fn config_json_round_trip() {
        let c = build("m:n=9,base.constant=0.5").unwrap();
        let back: Cfg = from_json(&to_json(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(from_json::<Cfg>(&to_json(&Cfg { n: 0, ..c }).unwrap()).is_err());
    }
}
