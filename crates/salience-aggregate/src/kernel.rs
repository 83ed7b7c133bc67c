//! The pixel-wise driver shared by every aggregator.
//!
//! An [`Ensemble`] stores its k maps stacked as `[k, N, P]` (P values per
//! sample). Aggregators see it one *chunk* at a time: up to [`CHUNK`]
//! consecutive pixels of one sample, as k plane slices (one per map) and
//! the matching slice of the output. Chunks are processed in parallel with
//! rayon; every chunk's result depends only on its own pixels (and on
//! per-sample statistics computed beforehand), so the output is identical
//! whatever the thread count. Scratch memory is allocated once per chunk,
//! never per pixel.

use rayon::prelude::*;
use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// Pixels per parallel work item.
pub(crate) const CHUNK: usize = 4096;

/// The k plane slices of one chunk, plus where the chunk sits.
pub(crate) struct Planes<'a> {
    /// Sample index within the batch.
    pub sample: usize,
    /// `planes[j]` holds map j's values for this chunk's pixels.
    pub planes: Vec<&'a [f32]>,
}

impl Planes<'_> {
    /// Number of maps k.
    pub fn k(&self) -> usize {
        self.planes.len()
    }
}

/// The ensemble's contiguous `[k, N, P]` buffer and its dimensions.
pub(crate) fn flat(e: &Ensemble) -> Result<(&[f32], usize, usize, usize)> {
    let data = e
        .as_flat()
        .to_slice()
        .ok_or_else(|| SalienceError::Backend("ensemble is not contiguous".into()))?;
    Ok((data, e.k(), e.n_samples(), e.feature_len()))
}

/// Runs `f` on every chunk of every sample in parallel, writing into a
/// fresh `[N * P]` output which is returned.
pub(crate) fn map_chunks<F>(e: &Ensemble, f: F) -> Result<Vec<f32>>
where
    F: Fn(&Planes<'_>, &mut [f32]) -> Result<()> + Sync,
{
    let (data, k, n, p) = flat(e)?;
    let mut out = vec![0.0f32; n * p];
    out.par_chunks_mut(p).enumerate().try_for_each(|(s, o)| {
        o.par_chunks_mut(CHUNK).enumerate().try_for_each(|(c, oc)| {
            let start = c * CHUNK;
            let len = oc.len();
            let planes = (0..k)
                .map(|j| {
                    let base = (j * n + s) * p + start;
                    &data[base..base + len]
                })
                .collect();
            f(&Planes { sample: s, planes }, oc)
        })
    })?;
    Ok(out)
}

/// Per-pixel mean and standard deviation of one chunk (population σ by
/// default, eq. 7 of Mahlau & Nolde; `ddof = 1` gives the sample σ).
///
/// The mean is accumulated in f32 over the k planes (k is small) and σ by a
/// second pass over the deviations, which is accurate to a few ulp. A pixel
/// on which all k maps agree exactly gets μ equal to that value and σ = 0
/// exactly, so the σ = 0 limits of the acquisition functions apply
/// reliably.
pub(crate) struct Moments {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    min: Vec<f32>,
    max: Vec<f32>,
}

impl Moments {
    pub fn new() -> Self {
        Moments {
            mean: Vec::with_capacity(CHUNK),
            std: Vec::with_capacity(CHUNK),
            min: Vec::with_capacity(CHUNK),
            max: Vec::with_capacity(CHUNK),
        }
    }

    /// Fills `mean` and `std` for the chunk. With `ddof = 1` and k = 1, σ
    /// is undefined and taken as 0. (Iterator form, no bounds checks, so
    /// the loops vectorize.)
    pub fn compute(&mut self, c: &Planes<'_>, ddof: usize) {
        let k = c.k();
        let first = c.planes[0];
        for buf in [&mut self.mean, &mut self.min, &mut self.max] {
            buf.clear();
            buf.extend_from_slice(first);
        }
        for plane in &c.planes[1..] {
            for (((m, lo), hi), &v) in self
                .mean
                .iter_mut()
                .zip(self.min.iter_mut())
                .zip(self.max.iter_mut())
                .zip(plane.iter())
            {
                *m += v;
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        }
        let inv_k = 1.0 / k as f32;
        for ((m, &lo), &hi) in self.mean.iter_mut().zip(&self.min).zip(&self.max) {
            // Clamp: rounding may push the f32 mean just outside [min, max];
            // identical values give exactly that value.
            *m = if lo == hi {
                lo
            } else {
                (*m * inv_k).clamp(lo, hi)
            };
        }
        self.std.clear();
        self.std.resize(first.len(), 0.0);
        if k <= ddof {
            return;
        }
        for plane in &c.planes {
            for ((s, &m), &v) in self.std.iter_mut().zip(&self.mean).zip(plane.iter()) {
                let d = v - m;
                *s += d * d;
            }
        }
        let inv = 1.0 / (k - ddof) as f32;
        for ((s, &lo), &hi) in self.std.iter_mut().zip(&self.min).zip(&self.max) {
            *s = if lo == hi { 0.0 } else { (*s * inv).sqrt() };
        }
    }
}

/// Per-sample statistics of the pixel-wise moments: `best[s]` = E⁺ =
/// max over pixels of μ (Mahlau & Nolde, below eq. 10) and `mean_var[s]` =
/// (1/P) Σ_pixels σ² (the numerator of eq. 11). Reduced in a fixed order,
/// so independent of the thread count.
pub(crate) struct SampleStats {
    pub best: Vec<f64>,
    pub mean_var: Vec<f64>,
}

pub(crate) fn sample_stats(e: &Ensemble) -> Result<SampleStats> {
    let (data, k, n, p) = flat(e)?;
    let per_sample: Vec<(f64, f64)> = (0..n)
        .into_par_iter()
        .map(|s| {
            let chunks: Vec<(f32, f64)> = (0..p.div_ceil(CHUNK))
                .into_par_iter()
                .map(|c| {
                    let start = c * CHUNK;
                    let len = CHUNK.min(p - start);
                    let planes = (0..k)
                        .map(|j| {
                            let base = (j * n + s) * p + start;
                            &data[base..base + len]
                        })
                        .collect();
                    let mut m = Moments::new();
                    m.compute(&Planes { sample: s, planes }, 0);
                    let best = m.mean.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let var: f64 = m.std.iter().map(|&v| (v as f64) * (v as f64)).sum();
                    (best, var)
                })
                .collect();
            let best = chunks.iter().map(|c| c.0).fold(f32::NEG_INFINITY, f32::max);
            let var = chunks.iter().map(|c| c.1).sum::<f64>() / p as f64;
            (best as f64, var)
        })
        .collect();
    Ok(SampleStats {
        best: per_sample.iter().map(|v| v.0).collect(),
        mean_var: per_sample.iter().map(|v| v.1).collect(),
    })
}

/// Wraps an aggregate `[N * P]` buffer as a batch of the ensemble's map
/// shape; a non-finite value (overflow on extreme inputs) is a typed error.
pub(crate) fn finish(e: &Ensemble, values: Vec<f32>, name: &str) -> Result<AttributionBatch> {
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: format!("{name} aggregate (overflow: rescale or normalize the maps)"),
            index,
            value,
        });
    }
    e.batch_from_flat(values)
}
