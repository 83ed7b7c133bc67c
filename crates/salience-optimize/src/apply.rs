//! Building the aggregated map φ_w = Σ_i w_i φ_i.

use crate::qp::Weights;
use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// Which weights to use for each input of an ensemble.
///
/// ```
/// use salience_optimize::{SampleWeights, Weights};
/// let w = Weights::uniform(2).unwrap();
/// let _one_for_all = SampleWeights::Global(&w);
/// ```
#[derive(Debug, Clone, Copy)]
pub enum SampleWeights<'a> {
    /// The same weights for every input.
    Global(&'a Weights),
    /// One weight vector per input (length N, in input order).
    PerSample(&'a [Weights]),
}

/// The aggregated maps φ_w = Σ_i w_i φ_i for every input of `ensemble`, as
/// an [`AttributionBatch`] of the ensemble's map shape. Sums are formed in
/// f64 and rounded once to f32.
///
/// ```
/// use ndarray::Array;
/// use salience_core::Ensemble;
/// use salience_optimize::{apply_weights, SampleWeights, Weights};
/// // k = 2 methods, N = 1 input, 3 features: maps all 0 and all 1.
/// let stacked = Array::from_shape_fn((2, 1, 3), |(i, _, _)| i as f32);
/// let e = Ensemble::from_stacked(stacked.into_dyn(), None)?;
/// let w = Weights::new(vec![0.25, 0.75])?;
/// let out = apply_weights(&e, SampleWeights::Global(&w))?;
/// assert_eq!(out.as_flat().row(0).to_vec(), vec![0.75f32; 3]);
/// let bad = Weights::uniform(3)?;
/// assert!(apply_weights(&e, SampleWeights::Global(&bad)).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn apply_weights(ensemble: &Ensemble, weights: SampleWeights<'_>) -> Result<AttributionBatch> {
    let (k, n, p) = (ensemble.k(), ensemble.n_samples(), ensemble.feature_len());
    let check = |w: &Weights, ctx: &str| {
        if w.len() != k {
            Err(SalienceError::shape(
                ctx,
                format!("[{k}] (one weight per method)"),
                &[w.len()],
            ))
        } else {
            Ok(())
        }
    };
    match weights {
        SampleWeights::Global(w) => check(w, "global weights")?,
        SampleWeights::PerSample(ws) => {
            if ws.len() != n {
                return Err(SalienceError::invalid(
                    "per-sample weights",
                    ws.len(),
                    &format!("need one weight vector per input (N = {n})"),
                ));
            }
            for w in ws {
                check(w, "per-sample weights")?;
            }
        }
    }
    let flat = ensemble.as_flat();
    let mut out = vec![0.0f32; n * p];
    let mut acc = vec![0.0f64; p];
    for s in 0..n {
        let w = match weights {
            SampleWeights::Global(w) => w.as_slice(),
            SampleWeights::PerSample(ws) => ws[s].as_slice(),
        };
        acc.iter_mut().for_each(|v| *v = 0.0);
        for (i, &wi) in w.iter().enumerate() {
            if wi == 0.0 {
                continue;
            }
            for (a, &v) in acc.iter_mut().zip(flat.slice(ndarray::s![i, s, ..])) {
                *a += wi * f64::from(v);
            }
        }
        for (o, &a) in out[s * p..(s + 1) * p].iter_mut().zip(&acc) {
            *o = a as f32;
        }
    }
    ensemble.batch_from_flat(out)
}
