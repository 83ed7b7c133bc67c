//! Percentile aggregation g_q (Mahlau & Nolde 2022, §3.2).

use crate::kernel::{finish, map_chunks, Planes};
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Percentile {
    /// Percentage in [0, 100].
    #[serde(alias = "k")]
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

    pub(crate) fn validate(&self) -> Result<()> {
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

/// Up to this k the order statistics are found by counting ranks (O(k²)
/// branch-free comparisons per pixel, vectorized across pixels); above it,
/// by sorting each pixel's values.
const RANK_MAX_K: usize = 24;

/// Writes v_lo + frac (v_hi − v_lo) where v_r is the value of rank r. The
/// rank of map i at a pixel is #{j : v_j < v_i} + #{j < i : v_j = v_i}, a
/// permutation of 0..k even with ties.
fn by_rank(c: &Planes<'_>, out: &mut [f32], lo: usize, hi: usize, frac: f32) {
    let len = out.len();
    let mut rank = vec![0u32; len];
    let mut v_lo = vec![0.0f32; len];
    let mut v_hi = vec![0.0f32; len];
    for (i, pi) in c.planes.iter().enumerate() {
        rank.iter_mut().for_each(|r| *r = 0);
        for (j, pj) in c.planes.iter().enumerate() {
            let before = j < i;
            for ((r, &a), &b) in rank.iter_mut().zip(pi.iter()).zip(pj.iter()) {
                *r += u32::from(b < a || (before && b == a));
            }
        }
        for (((l, h), &r), &a) in v_lo
            .iter_mut()
            .zip(v_hi.iter_mut())
            .zip(&rank)
            .zip(pi.iter())
        {
            if r as usize == lo {
                *l = a;
            }
            if r as usize == hi {
                *h = a;
            }
        }
    }
    for ((o, &l), &h) in out.iter_mut().zip(&v_lo).zip(&v_hi) {
        *o = if lo == hi { l } else { l + frac * (h - l) };
    }
}

/// The same by sorting each pixel's k values.
fn by_sort(c: &Planes<'_>, out: &mut [f32], lo: usize, hi: usize, frac: f32) {
    let mut v = vec![0.0f32; c.k()];
    for (i, o) in out.iter_mut().enumerate() {
        for (slot, plane) in v.iter_mut().zip(&c.planes) {
            *slot = plane[i];
        }
        v.sort_unstable_by(f32::total_cmp);
        *o = if lo == hi {
            v[lo]
        } else {
            v[lo] + frac * (v[hi] - v[lo])
        };
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
            if k <= RANK_MAX_K {
                by_rank(c, out, lo, hi, frac);
            } else {
                by_sort(c, out, lo, hi, frac);
            }
            Ok(())
        })?;
        finish(ensemble, out, "percentile")
    }
}
