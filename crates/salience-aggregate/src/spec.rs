//! [`Aggregation`]: every aggregator by name, buildable from a string.

use crate::{Aei, Aggregator, Api, Ci, Ei, Mean, Percentile, Pi, Rbm, Spread, Ucb, Var, MAX_RATES};
#[cfg(test)]
use crate::{Chain, Rates};
use salience_core::spec::{config_from, Spec, Validate};
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// Any aggregator of this crate, so that a panel of aggregators can be
/// described as data.
///
/// Parsed from `name` or `name:key=value,key=value`. Names and keys:
///
/// | name | keys (defaults as in each struct) |
/// |---|---|
/// | `mean` | |
/// | `percentile` (`median` = q 50) | `q` (also `k`) |
/// | `ucb` | `eps` |
/// | `pi`, `ei` | `eps` |
/// | `ci` | |
/// | `api`, `aei` | `a`, `b`, `n` (number of rates, ≤ [`MAX_RATES`](crate::MAX_RATES)) or `exact=true` |
/// | `var` (Mahlau & Nolde), `agg-var` (Rieger & Hansen preset) | `eps`, `delta`, `spread` = `std`/`var`, `ddof` |
/// | `rbm` | `lr`, `iters` (≤ [`MAX_RBM_ITERS`](crate::MAX_RBM_ITERS)), `batch` (≤ [`MAX_RBM_BATCH_SIZE`](crate::MAX_RBM_BATCH_SIZE)), `chain` = `persistent`/`cd1`, `init_std`, `seed` |
///
/// `eps` may also be written `epsilon`. Every field of the aggregator is
/// also a key under its own name (nested fields with dots), a spec may be
/// a JSON object ([`Aggregation::from_spec`]), and an aggregator is
/// validated when it is parsed. With serde, an `Aggregation` is written
/// as `{"ucb": {"epsilon": -0.5}}`.
///
/// ```
/// use salience_aggregate::{Aggregation, Ucb, Percentile};
/// let a: Aggregation = "ucb:eps=-1".parse().unwrap();
/// assert_eq!(a, Aggregation::Ucb(Ucb { epsilon: -1.0 }));
/// assert_eq!("median".parse::<Aggregation>().unwrap(), Aggregation::Percentile(Percentile { q: 50.0 }));
/// assert!("ucb:eps=abc".parse::<Aggregation>().is_err());
/// assert!("ucb:bogus=1".parse::<Aggregation>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// [`Mean`].
    Mean(Mean),
    /// [`Percentile`].
    Percentile(Percentile),
    /// [`Ucb`].
    Ucb(Ucb),
    /// [`Pi`].
    Pi(Pi),
    /// [`Ei`].
    Ei(Ei),
    /// [`Ci`].
    Ci(Ci),
    /// [`Api`].
    Api(Api),
    /// [`Aei`].
    Aei(Aei),
    /// [`Var`].
    Var(Var),
    /// [`Rbm`].
    Rbm(Rbm),
}

impl Aggregation {
    /// Every aggregator with the paper's tuned defaults (Mahlau & Nolde
    /// Table 1), in the table's order of the crate docs.
    pub fn mahlau2022() -> Vec<Aggregation> {
        vec![
            Aggregation::Mean(Mean),
            Aggregation::Percentile(Percentile::default()),
            Aggregation::Ucb(Ucb::default()),
            Aggregation::Pi(Pi::default()),
            Aggregation::Ei(Ei::default()),
            Aggregation::Ci(Ci),
            Aggregation::Api(Api::default()),
            Aggregation::Aei(Aei::default()),
            Aggregation::Var(Var::default()),
            Aggregation::Rbm(Rbm::default()),
        ]
    }

    /// The former name of [`Aggregation::mahlau2022`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `mahlau2022`"
    )]
    pub fn paper_defaults() -> Vec<Aggregation> {
        Self::mahlau2022()
    }

    fn inner(&self) -> &dyn Aggregator {
        match self {
            Aggregation::Mean(a) => a,
            Aggregation::Percentile(a) => a,
            Aggregation::Ucb(a) => a,
            Aggregation::Pi(a) => a,
            Aggregation::Ei(a) => a,
            Aggregation::Ci(a) => a,
            Aggregation::Api(a) => a,
            Aggregation::Aei(a) => a,
            Aggregation::Var(a) => a,
            Aggregation::Rbm(a) => a,
        }
    }
}

impl Aggregator for Aggregation {
    fn name(&self) -> String {
        self.inner().name()
    }
    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        self.inner().aggregate(ensemble)
    }
}

fn bad(key: &str, value: &str, reason: &str) -> SalienceError {
    SalienceError::invalid(key, value, reason)
}

/// Removes `key` from `params`, returning its value.
fn take(params: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let i = params.iter().position(|(k, _)| k == key)?;
    Some(params.remove(i).1)
}

/// The flat spellings of [`Api`] / [`Aei`]: `n` (a grid of n rates, at
/// most [`MAX_RATES`]) and `exact=true` as the serde form `rates`.
fn flat_rates(params: &mut Vec<(String, String)>) -> Result<()> {
    if let Some(v) = take(params, "n") {
        let n: usize = v
            .parse()
            .map_err(|_| bad("n", &v, "not a number of the right kind"))?;
        crate::check_count_limit("n", n, MAX_RATES, " (use exact=true for the integral)")?;
        params.push(("rates.grid".into(), v));
    }
    if let Some(v) = take(params, "exact") {
        match v.parse::<bool>() {
            Ok(true) => params.push(("rates".into(), "exact".into())),
            Ok(false) => {}
            Err(_) => return Err(bad("exact", &v, "expected true or false")),
        }
    }
    Ok(())
}

/// The flat spellings of [`Var`]: `spread` = `std` \| `var` and `ddof` as
/// the serde form `spread.<kind>.ddof` (each defaulting to the preset's).
fn flat_spread(params: &mut Vec<(String, String)>, preset: Spread) -> Result<()> {
    let (kind, ddof) = (take(params, "spread"), take(params, "ddof"));
    if kind.is_none() && ddof.is_none() {
        return Ok(());
    }
    let (Spread::Std { ddof: d0 } | Spread::Variance { ddof: d0 }) = preset;
    let kind = match kind.as_deref() {
        None => match preset {
            Spread::Std { .. } => "std",
            Spread::Variance { .. } => "variance",
        },
        Some("std") => "std",
        Some("var" | "variance") => "variance",
        Some(v) => return Err(bad("spread", v, "expected std or var")),
    };
    let ddof = ddof.unwrap_or_else(|| d0.to_string());
    params.push((format!("spread.{kind}.ddof"), ddof));
    Ok(())
}

impl Aggregation {
    /// The aggregator of a [`Spec`]: the name's preset with the spec's
    /// keys laid over it ([`salience_core::spec::config_from`]: every field
    /// is a key, nested fields use dots), validated. The flat spellings of
    /// the [table](Aggregation) (`n`, `exact`, `spread`, `ddof`, `eps`,
    /// `k`, `lr`, `iters`, `batch`) are kept.
    ///
    /// ```
    /// use salience_aggregate::{Aggregation, Var};
    /// use salience_core::spec::Spec;
    /// let s = Spec::from_json(r#"{"name": "var", "spread": {"variance": {"ddof": 1}}}"#)?;
    /// let a = Aggregation::from_spec(&s)?;
    /// assert_eq!(a, "var:spread=var,ddof=1".parse()?);
    /// assert!(Aggregation::from_spec(&"ucb:eps=nan".parse()?).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_spec(spec: &Spec) -> Result<Self> {
        // The short spellings of field names (serde aliases too, for JSON
        // read directly; renamed here because a spec is laid over a preset
        // that already has the field under its own name).
        const SHORT: [(&str, &str); 5] = [
            ("eps", "epsilon"),
            ("k", "q"),
            ("lr", "learning_rate"),
            ("iters", "n_iter"),
            ("batch", "batch_size"),
        ];
        let mut p = spec.params.clone();
        for (k, _) in p.iter_mut() {
            if let Some((_, long)) = SHORT.iter().find(|(short, _)| short == k) {
                *k = long.to_string();
            }
        }
        let m = spec.name.as_str();
        Ok(match m {
            "mean" | "avg" | "average" => Aggregation::Mean(config_from(m, &Mean, &p)?),
            "percentile" => Aggregation::Percentile(config_from(m, &Percentile::default(), &p)?),
            "median" => Aggregation::Percentile(config_from(m, &Percentile::median(), &p)?),
            "ucb" => Aggregation::Ucb(config_from(m, &Ucb::default(), &p)?),
            "pi" => Aggregation::Pi(config_from(m, &Pi::default(), &p)?),
            "ei" => Aggregation::Ei(config_from(m, &Ei::default(), &p)?),
            "ci" => Aggregation::Ci(config_from(m, &Ci, &p)?),
            "api" => {
                flat_rates(&mut p)?;
                Aggregation::Api(config_from(m, &Api::default(), &p)?)
            }
            "aei" => {
                flat_rates(&mut p)?;
                Aggregation::Aei(config_from(m, &Aei::default(), &p)?)
            }
            "var" | "agg-var" | "agg_var" | "aggvar" => {
                let preset = if m == "var" {
                    Var::mahlau2022()
                } else {
                    Var::rieger2020()
                };
                flat_spread(&mut p, preset.spread)?;
                Aggregation::Var(config_from(m, &preset, &p)?)
            }
            "rbm" => Aggregation::Rbm(config_from(m, &Rbm::default(), &p)?),
            _ => {
                return Err(bad(
                    "aggregation",
                    m,
                    "expected one of mean, percentile, median, ucb, pi, ei, ci, api, aei, var, agg-var, rbm",
                ))
            }
        })
    }
}

impl std::str::FromStr for Aggregation {
    type Err = SalienceError;

    fn from_str(spec: &str) -> Result<Self> {
        let spec: Spec = spec.parse()?;
        Aggregation::from_spec(&spec)
    }
}

impl Validate for Mean {}
impl Validate for Ci {}

impl Validate for Percentile {
    fn validate(&self) -> Result<()> {
        Percentile::validate(self)
    }
}

impl Validate for Var {
    fn validate(&self) -> Result<()> {
        Var::validate(self)
    }
}

impl Validate for Rbm {
    fn validate(&self) -> Result<()> {
        Rbm::validate(self)
    }
}

impl Validate for Api {
    fn validate(&self) -> Result<()> {
        crate::averaged::validate(self.a, self.b, self.rates)
    }
}

impl Validate for Aei {
    fn validate(&self) -> Result<()> {
        crate::averaged::validate(self.a, self.b, self.rates)
    }
}

impl Validate for Ucb {
    fn validate(&self) -> Result<()> {
        check_param_finite("ucb epsilon", self.epsilon)
    }
}

impl Validate for Pi {
    fn validate(&self) -> Result<()> {
        check_param_finite("pi epsilon", self.epsilon)
    }
}

impl Validate for Ei {
    fn validate(&self) -> Result<()> {
        check_param_finite("ei epsilon", self.epsilon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_old_spelling_parses_to_the_same_aggregator() {
        let cases: Vec<(&str, Aggregation)> = vec![
            ("mean", Aggregation::Mean(Mean)),
            ("AVG", Aggregation::Mean(Mean)),
            ("average", Aggregation::Mean(Mean)),
            (
                "percentile",
                Aggregation::Percentile(Percentile { q: 25.0 }),
            ),
            (
                "percentile:q=90",
                Aggregation::Percentile(Percentile { q: 90.0 }),
            ),
            (
                "percentile:k=10",
                Aggregation::Percentile(Percentile { q: 10.0 }),
            ),
            ("median", Aggregation::Percentile(Percentile { q: 50.0 })),
            ("ucb:eps=-1", Aggregation::Ucb(Ucb { epsilon: -1.0 })),
            ("ucb:epsilon=2", Aggregation::Ucb(Ucb { epsilon: 2.0 })),
            ("pi:eps=0.5", Aggregation::Pi(Pi { epsilon: 0.5 })),
            ("ei:Epsilon=3", Aggregation::Ei(Ei { epsilon: 3.0 })),
            ("ci", Aggregation::Ci(Ci)),
            (
                "api:a=-3,b=1,n=4",
                Aggregation::Api(Api {
                    a: -3.0,
                    b: 1.0,
                    rates: Rates::Grid(4),
                }),
            ),
            (
                "api:exact=true",
                Aggregation::Api(Api {
                    rates: Rates::Exact,
                    ..Api::default()
                }),
            ),
            ("aei:exact=false", Aggregation::Aei(Aei::default())),
            (
                "aei:n=3,b=6",
                Aggregation::Aei(Aei {
                    b: 6.0,
                    rates: Rates::Grid(3),
                    ..Aei::default()
                }),
            ),
            ("var", Aggregation::Var(Var::mahlau2022())),
            (
                "var:eps=0.5,delta=2,ddof=1",
                Aggregation::Var(Var {
                    epsilon: 0.5,
                    delta: 2.0,
                    spread: Spread::Std { ddof: 1 },
                }),
            ),
            (
                "var:spread=var",
                Aggregation::Var(Var {
                    spread: Spread::Variance { ddof: 0 },
                    ..Var::mahlau2022()
                }),
            ),
            (
                "var:ddof=1,spread=variance",
                Aggregation::Var(Var {
                    spread: Spread::Variance { ddof: 1 },
                    ..Var::mahlau2022()
                }),
            ),
            ("agg-var", Aggregation::Var(Var::rieger2020())),
            ("agg_var", Aggregation::Var(Var::rieger2020())),
            (
                "aggvar:spread=std",
                Aggregation::Var(Var {
                    spread: Spread::Std { ddof: 1 },
                    ..Var::rieger2020()
                }),
            ),
            ("rbm", Aggregation::Rbm(Rbm::default())),
            (
                "rbm:lr=0.01,iters=5,batch=4,chain=cd1,init_std=0.1,seed=7",
                Aggregation::Rbm(Rbm {
                    learning_rate: 0.01,
                    n_iter: 5,
                    batch_size: 4,
                    chain: Chain::Cd1,
                    init_std: 0.1,
                    seed: 7,
                }),
            ),
            (
                "rbm:n_iter=6,batch_size=3,chain=pcd",
                Aggregation::Rbm(Rbm {
                    n_iter: 6,
                    batch_size: 3,
                    ..Rbm::default()
                }),
            ),
            (
                "rbm:chain=cd",
                Aggregation::Rbm(Rbm {
                    chain: Chain::Cd1,
                    ..Rbm::default()
                }),
            ),
            ("rbm:chain=persistent", Aggregation::Rbm(Rbm::default())),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Aggregation>().unwrap(), want, "{text}");
        }
    }

    #[test]
    fn bad_specs_are_typed_errors_naming_the_key() {
        for (text, key) in [
            ("ucb:eps=abc", "epsilon"),
            ("ucb:bogus=1", "bogus"),
            ("mean:x=1", "x"),
            ("api:n=x", "n"),
            ("api:exact=maybe", "exact"),
            ("var:spread=wide", "spread"),
            ("rbm:chain=cd2", "chain"),
            ("percentile:q=150", "percentile q"),
            ("ucb:eps=nan", "epsilon"),
            ("api:a=2,b=1", "[a, b]"),
            ("var:delta=0", "var delta"),
        ] {
            match text.parse::<Aggregation>() {
                Err(SalienceError::InvalidParameter { name, .. }) => {
                    assert_eq!(name, key, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!("nope".parse::<Aggregation>().is_err());
    }

    #[test]
    fn aggregators_round_trip_through_json() {
        use salience_core::spec::{from_json, to_json};
        for a in Aggregation::mahlau2022()
            .into_iter()
            .chain([Aggregation::Var(Var::rieger2020())])
        {
            let text = to_json(&a).unwrap();
            let back: Aggregation = serde_json::from_str(&text).unwrap();
            assert_eq!(back, a, "{text}");
        }
        let r = Rbm {
            chain: Chain::Cd1,
            ..Rbm::default()
        };
        assert_eq!(from_json::<Rbm>(&to_json(&r).unwrap()).unwrap(), r);
        assert!(from_json::<Ucb>(r#"{"epsilon": 1, "bogus": 2}"#).is_err());
        assert_eq!(
            from_json::<Ucb>(r#"{"eps": 1}"#).unwrap(),
            Ucb { epsilon: 1.0 }
        );
        assert!(from_json::<Api>(r#"{"rates": {"grid": 0}}"#).is_err());
    }
}
