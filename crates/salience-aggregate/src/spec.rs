//! [`Aggregation`]: every aggregator by name, buildable from a string.

use crate::{
    Aei, Aggregator, Api, Chain, Ci, Ei, Mean, Percentile, Pi, Rates, Rbm, Spread, Ucb, Var,
    MAX_RATES,
};
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
/// `eps` may also be written `epsilon`.
///
/// ```
/// use salience_aggregate::{Aggregation, Ucb, Percentile};
/// let a: Aggregation = "ucb:eps=-1".parse().unwrap();
/// assert_eq!(a, Aggregation::Ucb(Ucb { epsilon: -1.0 }));
/// assert_eq!("median".parse::<Aggregation>().unwrap(), Aggregation::Percentile(Percentile { q: 50.0 }));
/// assert!("ucb:eps=abc".parse::<Aggregation>().is_err());
/// assert!("ucb:bogus=1".parse::<Aggregation>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
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
    pub fn paper_defaults() -> Vec<Aggregation> {
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

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(key, value, "not a number of the right kind"))
}

impl std::str::FromStr for Aggregation {
    type Err = SalienceError;

    fn from_str(spec: &str) -> Result<Self> {
        let (name, params) = match spec.split_once(':') {
            Some((n, p)) => (n.trim().to_ascii_lowercase(), p),
            None => (spec.trim().to_ascii_lowercase(), ""),
        };
        let mut pairs = Vec::new();
        for kv in params.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("aggregation parameter", kv, "expected key=value"))?;
            let k = k.trim().to_ascii_lowercase();
            let k = if k == "epsilon" { "eps".to_string() } else { k };
            pairs.push((k, v.trim().to_string()));
        }
        let mut agg = match name.as_str() {
            "mean" | "avg" | "average" => Aggregation::Mean(Mean),
            "percentile" => Aggregation::Percentile(Percentile::default()),
            "median" => Aggregation::Percentile(Percentile::median()),
            "ucb" => Aggregation::Ucb(Ucb::default()),
            "pi" => Aggregation::Pi(Pi::default()),
            "ei" => Aggregation::Ei(Ei::default()),
            "ci" => Aggregation::Ci(Ci),
            "api" => Aggregation::Api(Api::default()),
            "aei" => Aggregation::Aei(Aei::default()),
            "var" => Aggregation::Var(Var::mahlau()),
            "agg-var" | "agg_var" | "aggvar" => Aggregation::Var(Var::rieger_hansen()),
            "rbm" => Aggregation::Rbm(Rbm::default()),
            _ => {
                return Err(bad(
                    "aggregation",
                    &name,
                    "expected one of mean, percentile, median, ucb, pi, ei, ci, api, aei, var, agg-var, rbm",
                ))
            }
        };
        for (k, v) in &pairs {
            let (k, v) = (k.as_str(), v.as_str());
            match (&mut agg, k) {
                (Aggregation::Percentile(p), "q" | "k") => p.q = num(k, v)?,
                (Aggregation::Ucb(a), "eps") => a.epsilon = num(k, v)?,
                (Aggregation::Pi(a), "eps") => a.epsilon = num(k, v)?,
                (Aggregation::Ei(a), "eps") => a.epsilon = num(k, v)?,
                (Aggregation::Api(Api { a, .. }) | Aggregation::Aei(Aei { a, .. }), "a") => {
                    *a = num(k, v)?
                }
                (Aggregation::Api(Api { b, .. }) | Aggregation::Aei(Aei { b, .. }), "b") => {
                    *b = num(k, v)?
                }
                (
                    Aggregation::Api(Api { rates, .. }) | Aggregation::Aei(Aei { rates, .. }),
                    "n",
                ) => {
                    let n = num(k, v)?;
                    crate::check_count_limit(
                        "n",
                        n,
                        MAX_RATES,
                        " (use exact=true for the integral)",
                    )?;
                    *rates = Rates::Grid(n)
                }
                (
                    Aggregation::Api(Api { rates, .. }) | Aggregation::Aei(Aei { rates, .. }),
                    "exact",
                ) => {
                    if num::<bool>(k, v)? {
                        *rates = Rates::Exact
                    }
                }
                (Aggregation::Var(a), "eps") => a.epsilon = num(k, v)?,
                (Aggregation::Var(a), "delta") => a.delta = num(k, v)?,
                (Aggregation::Var(a), "ddof") => {
                    let d: usize = num(k, v)?;
                    a.spread = match a.spread {
                        Spread::Std { .. } => Spread::Std { ddof: d },
                        Spread::Variance { .. } => Spread::Variance { ddof: d },
                    }
                }
                (Aggregation::Var(a), "spread") => {
                    let (Spread::Std { ddof } | Spread::Variance { ddof }) = a.spread;
                    a.spread = match v {
                        "std" => Spread::Std { ddof },
                        "var" | "variance" => Spread::Variance { ddof },
                        _ => return Err(bad(k, v, "expected std or var")),
                    }
                }
                (Aggregation::Rbm(r), "lr") => r.learning_rate = num(k, v)?,
                (Aggregation::Rbm(r), "iters" | "n_iter") => {
                    r.n_iter = num(k, v)?;
                    r.check_counts()?
                }
                (Aggregation::Rbm(r), "batch" | "batch_size") => {
                    r.batch_size = num(k, v)?;
                    r.check_counts()?
                }
                (Aggregation::Rbm(r), "init_std") => r.init_std = num(k, v)?,
                (Aggregation::Rbm(r), "seed") => r.seed = num(k, v)?,
                (Aggregation::Rbm(r), "chain") => {
                    r.chain = match v {
                        "persistent" | "pcd" => Chain::Persistent,
                        "cd1" | "cd" => Chain::Cd1,
                        _ => return Err(bad(k, v, "expected persistent or cd1")),
                    }
                }
                _ => {
                    return Err(bad(
                        "aggregation parameter",
                        k,
                        &format!("not a parameter of {name}"),
                    ))
                }
            }
        }
        Ok(agg)
    }
}
