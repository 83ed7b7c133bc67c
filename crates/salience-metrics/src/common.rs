//! Shared plumbing of the model-based metrics: input geometry, flattened
//! inputs and attributions, target scores.

use crate::insertion_deletion::ScoreKind;
use ndarray::{Array2, ArrayViewD};
use salience_core::validate::{check_finite, check_nonempty_shape};
use salience_core::{AttributionBatch, BatchSize, Result, SalienceError};

/// Per-sample geometry of a batch of inputs `[N, C, H, W]`, `[N, H, W]` or
/// `[N, D]` (a tabular sample is one row of `D` "pixels").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Pixels per channel, `h · w`.
    pub p: usize,
    /// Features per sample, `c · p`.
    pub d: usize,
    /// Whether the attributions are pixel maps `[N, H, W]` of `[N, C, H, W]`
    /// inputs (broadcast over channels) rather than input-shaped.
    pub per_pixel: bool,
    /// Whether the inputs are tabular `[N, D]`.
    pub tabular: bool,
}

impl Geometry {
    /// The attribution of feature `k` (`0..d`) of a flattened map.
    #[inline]
    pub fn phi(&self, phi: &[f32], k: usize) -> f32 {
        if self.per_pixel {
            phi[k % self.p]
        } else {
            phi[k]
        }
    }
}

/// The geometry of `inputs` (shape `[N, ...]`), checked non-empty.
pub(crate) fn input_geometry(shape: &[usize], context: &str) -> Result<Geometry> {
    check_nonempty_shape(shape, context)?;
    let (n, c, h, w) = match *shape {
        [n, d] => (n, 1, 1, d),
        [n, h, w] => (n, 1, h, w),
        [n, c, h, w] => (n, c, h, w),
        _ => {
            return Err(SalienceError::shape(
                context,
                "[N, C, H, W], [N, H, W] or [N, D]",
                shape,
            ))
        }
    };
    Ok(Geometry {
        n,
        c,
        h,
        w,
        p: h * w,
        d: c * h * w,
        per_pixel: false,
        tabular: shape.len() == 2,
    })
}

/// The geometry of `inputs` with `attributions` that are either
/// input-shaped or, for `[N, C, H, W]` inputs, pixel maps `[N, H, W]` or
/// `[N, 1, H, W]` (broadcast over the channels).
pub(crate) fn geometry_with_maps(
    shape: &[usize],
    attributions: &AttributionBatch,
    context: &str,
) -> Result<Geometry> {
    let mut g = input_geometry(shape, context)?;
    let a = attributions.shape();
    if a == shape {
        return Ok(g);
    }
    if shape.len() == 4 && (a == [g.n, g.h, g.w] || a == [g.n, 1, g.h, g.w]) {
        g.per_pixel = true;
        return Ok(g);
    }
    Err(SalienceError::shape(
        &format!("{context} attributions"),
        format!(
            "the inputs' shape {shape:?}, or [N, H, W] / [N, 1, H, W] pixel maps of image inputs"
        ),
        a,
    ))
}

/// The inputs as a finite, contiguous `[N, d]` matrix.
pub(crate) fn flat_inputs(
    inputs: ArrayViewD<'_, f32>,
    g: &Geometry,
    context: &str,
) -> Result<Array2<f32>> {
    check_finite(&inputs, context)?;
    let owned = inputs.as_standard_layout().into_owned();
    owned
        .into_shape_with_order((g.n, g.d))
        .map_err(|e| SalienceError::backend("ndarray", e))
}

/// The attributions as a finite, contiguous `[N, d]` or `[N, p]` matrix.
pub(crate) fn flat_maps(attributions: &AttributionBatch, context: &str) -> Result<Array2<f32>> {
    let flat = attributions.as_flat().to_owned();
    check_finite(&flat, context)?;
    Ok(flat)
}

/// The target's raw score or softmax probability (f64, max-shifted).
pub(crate) fn target_score(out: &[f32], target: usize, kind: ScoreKind) -> f64 {
    let z = out.get(target).copied().unwrap_or(0.0) as f64;
    match kind {
        ScoreKind::Raw => z,
        ScoreKind::Softmax => {
            let max = out.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let denom: f64 = out.iter().map(|&v| (v as f64 - max).exp()).sum();
            (z - max).exp() / denom
        }
    }
}

/// Index of the largest value (first on ties).
pub(crate) fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Checks a batch size: a `Fixed(n)` built without [`BatchSize::fixed`]
/// must still be in its range (0 cannot be built at all).
pub(crate) fn check_batch_size(bs: BatchSize) -> Result<()> {
    match bs {
        BatchSize::Auto => Ok(()),
        BatchSize::Fixed(n) => BatchSize::fixed(n.get()).map(|_| ()),
    }
}

/// Samples per `explain` call that [`BatchSize::Auto`] means in the metrics
/// that re-explain inputs (MPRT, sensitivity, stability): the explainer
/// then chunks its own model calls by its own `batch_size`.
pub const AUTO_EXPLAIN_BATCH: usize = 32;

/// The samples per `explain` (and per model / representation) call of a
/// re-explaining metric: `Fixed(n)` is `n`, `Auto` is
/// [`AUTO_EXPLAIN_BATCH`].
pub(crate) fn explain_batch(bs: BatchSize) -> Result<usize> {
    check_batch_size(bs)?;
    Ok(bs.get().unwrap_or(AUTO_EXPLAIN_BATCH))
}

/// Pearson correlation of two equally long samples, `None` when either is
/// constant (the correlation is undefined).
pub(crate) fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    // Relative guard: a sample whose spread is rounding noise is constant.
    let scale_a = a[..n]
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let scale_b = b[..n]
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    if saa.sqrt() <= 1e-12 * scale_a * (n as f64).sqrt()
        || sbb.sqrt() <= 1e-12 * scale_b * (n as f64).sqrt()
    {
        return None;
    }
    Some((sab / (saa.sqrt() * sbb.sqrt())).clamp(-1.0, 1.0))
}

/// One sample's score as an [`Outcome`](crate::Outcome): a
/// [`SalienceError::DegenerateMap`] for the sample becomes
/// [`Undefined::DegenerateMap`](crate::Undefined::DegenerateMap) (the batch
/// goes on); any other error is returned.
pub(crate) fn degenerate_as_undefined(r: Result<f64>) -> Result<crate::Outcome> {
    match r {
        Ok(v) => Ok(crate::Outcome::Score(v)),
        Err(SalienceError::DegenerateMap { reason, .. }) => Ok(crate::Outcome::Undefined(
            crate::Undefined::DegenerateMap(reason),
        )),
        Err(e) => Err(e),
    }
}
