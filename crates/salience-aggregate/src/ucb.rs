//! Upper Confidence Bound aggregation (Mahlau & Nolde 2022, eq. 8).

use crate::kernel::{finish, map_chunks, moments};
use crate::Aggregator;
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, Ensemble, Result};

/// g_ucb = μ + ε σ at each pixel, with μ and σ the mean and population
/// standard deviation (eqs. 6–7) of the k values. Negative ε penalizes
/// disagreement between methods; the paper's tuned value is ε = −0.5
/// (default). ε = 0 is the mean.
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Ucb};
/// use salience_core::Ensemble;
/// // One pixel, values 1 and 3: μ = 2, σ = 1.
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 1), vec![1.0f32, 3.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// let u = Ucb::default().aggregate(&e).unwrap();
/// assert_eq!(u.view()[[0, 0]], 1.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ucb {
    /// Exploration rate ε.
    #[serde(alias = "eps")]
    pub epsilon: f64,
}

impl Default for Ucb {
    fn default() -> Self {
        Ucb { epsilon: -0.5 }
    }
}

impl Aggregator for Ucb {
    fn name(&self) -> String {
        format!("ucb(eps={})", self.epsilon)
    }

    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        check_param_finite("ucb epsilon", self.epsilon)?;
        let eps = self.epsilon as f32;
        let out = map_chunks(ensemble, |c, out| {
            // μ straight into `out`, σ into one scratch buffer per chunk.
            let mut std = vec![0.0f32; out.len()];
            moments(c, 0, out, &mut std);
            for (o, &sd) in out.iter_mut().zip(&std) {
                let mu = *o;
                *o = mu + eps * sd;
            }
            Ok(())
        })?;
        finish(ensemble, out, "ucb")
    }
}
