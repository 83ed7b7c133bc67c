//! Percentile aggregation g_q (Mahlau & Nolde 2022, §3.2).

use crate::kernel::{finish, map_chunks};
use crate::Aggregator;
use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// The q-th percentile of the k values at each pixel, with linear
/// interpolation between order statistics (NumPy's default `linear`
/// method): with the values sorted v₀ ≤ … ≤ v_{k−1} and h = (k − 1)·q/100,
/// g_q = v_⌊h⌋ + (h − ⌊h⌋)(v_⌈h⌉ − v_⌊h⌋). q = 0 is the minimum, 50 the
/// median, 100 the maximum. Default q = 25, the paper's tuned value.
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Percentile};
/// use salience_core::Ensemble;
/// // Four maps of one pixel: values 4, 1, 3, 2.
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((4, 1, 1), vec![4.0f32, 1.0, 3.0, 2.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// let median = Percentile { q: 50.0 }.aggregate(&e).unwrap();
/// assert_eq!(median.view()[[0, 0]], 2.5);
/// let q25 = Percentile::default().aggregate(&e).unwrap();
/// assert_eq!(q25.view()[[0, 0]], 1.75);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentile {
    /// Percentage in [0, 100].
    pub q: f64,
}

impl Default for Percentile {
    fn default() -> Self {
        Percentile { q: 25.0 }
    }
}

impl Percentile {
    /// The median (q = 50).
    pub fn median() -> Self {
        Percentile { q: 50.0 }
    }

    fn validate(&self) -> Result<()> {
        if !(0.0..=100.0).contains(&self.q) {
            return Err(SalienceError::invalid(
                "percentile q",
                self.q,
                "must be in [0, 100]",
            ));
        }
        Ok(())
    }
}

/// Sorts finite values; insertion sort for the small k of an ensemble.
fn sort_small(v: &mut [f32]) {
    if v.len() > 16 {
        v.sort_unstable_by(f32::total_cmp);
        return;
    }
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

impl Aggregator for Percentile {
    fn name(&self) -> String {
        format!("percentile(q={})", self.q)
    }

    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        self.validate()?;
        let k = ensemble.k();
        let h = (k - 1) as f64 * self.q / 100.0;
        let lo = (h.floor() as usize).min(k - 1);
        let hi = (h.ceil() as usize).min(k - 1);
        let frac = (h - lo as f64) as f32;
        let out = map_chunks(ensemble, |c, out| {
            let mut v = vec![0.0f32; k];
            for (i, o) in out.iter_mut().enumerate() {
                for (slot, plane) in v.iter_mut().zip(&c.planes) {
                    *slot = plane[i];
                }
                sort_small(&mut v);
                *o = if lo == hi {
                    v[lo]
                } else {
                    v[lo] + frac * (v[hi] - v[lo])
                };
            }
            Ok(())
        })?;
        finish(ensemble, out, "percentile")
    }
}
