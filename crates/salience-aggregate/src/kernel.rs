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

/// The k plane slices of one chunk.
pub(crate) struct Planes<'a> {
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
        .ok_or_else(|| SalienceError::backend_msg("ensemble is not contiguous"))?;
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
            f(&Planes { planes }, oc)
        })
    })?;
    Ok(out)
}

/// Writes the per-pixel mean and standard deviation of one chunk into
/// `mean` and `std` (population σ by default, eq. 7 of Mahlau & Nolde;
/// `ddof = 1` gives the sample σ; with k ≤ ddof σ is taken as 0).
///
/// One pass over the k planes with sums shifted by the first map's value
/// (d = v − v₀): μ = v₀ + Σd/k and σ² = (Σd² − (Σd)²/k)/(k − ddof),
/// clamped at 0. The shift keeps the usual one-pass cancellation away (d is
/// of the order of σ), and a pixel on which all k maps agree gets d = 0
/// exactly, hence μ equal to that value and σ = 0 exactly, so the σ = 0
/// limits of the acquisition functions apply reliably. Pixels are processed
/// in blocks of [`LANES`] with fixed-size accumulators, all k planes summed
/// in registers, so the loops vectorize and nothing round-trips through
/// memory.
pub(crate) fn moments(c: &Planes<'_>, ddof: usize, mean: &mut [f32], std: &mut [f32]) {
    let k = c.k();
    let first = c.planes[0];
    let len = first.len();
    let inv_k = 1.0 / k as f32;
    let inv = if k > ddof {
        1.0 / (k - ddof) as f32
    } else {
        0.0
    };
    let finish = |s1: f32, s2: f32, v0: f32| -> (f32, f32) {
        // Σd² overflowing f32 means σ overflows: keep it infinite (the
        // callers then report a typed overflow error) instead of letting
        // inf − inf = NaN be clamped to 0.
        let var = ((s2 - (s1 * inv_k) * s1) * inv).max(0.0);
        let sd = if s2.is_infinite() {
            f32::INFINITY
        } else {
            var.sqrt()
        };
        (v0 + s1 * inv_k, sd)
    };
    let blocks = len / LANES;
    for ((b, mo), so) in (0..blocks)
        .zip(mean.chunks_exact_mut(LANES))
        .zip(std.chunks_exact_mut(LANES))
    {
        let r = b * LANES..(b + 1) * LANES;
        let mut v0 = [0.0f32; LANES];
        v0.copy_from_slice(&first[r.clone()]);
        let (mut s1, mut s2) = ([0.0f32; LANES], [0.0f32; LANES]);
        for plane in &c.planes[1..] {
            let p = &plane[r.clone()];
            for l in 0..LANES {
                let d = p[l] - v0[l];
                s1[l] += d;
                s2[l] += d * d;
            }
        }
        for l in 0..LANES {
            (mo[l], so[l]) = finish(s1[l], s2[l], v0[l]);
        }
    }
    for i in blocks * LANES..len {
        let v0 = first[i];
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for plane in &c.planes[1..] {
            let d = plane[i] - v0;
            s1 += d;
            s2 += d * d;
        }
        (mean[i], std[i]) = finish(s1, s2, v0);
    }
}

/// Pixels per register block in [`moments`].
const LANES: usize = 16;

/// The pixel-wise moments of a whole ensemble, computed once: μ and σ
/// (population) per pixel, `[N * P]` each, and per sample `best[s]` = E⁺ =
/// max over pixels of μ (Mahlau & Nolde, below eq. 10) and `mean_var[s]` =
/// (1/P) Σ_pixels σ² (the numerator of eq. 11). Per-sample reductions run
/// in a fixed order, so they are independent of the thread count.
pub(crate) struct PixelMoments {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub best: Vec<f64>,
    pub mean_var: Vec<f64>,
    p: usize,
}

impl PixelMoments {
    pub fn new(e: &Ensemble) -> Result<Self> {
        let (data, k, n, p) = flat(e)?;
        let mut mean = vec![0.0f32; n * p];
        let mut std = vec![0.0f32; n * p];
        let per_sample: Vec<(f64, f64)> = mean
            .par_chunks_mut(p)
            .zip(std.par_chunks_mut(p))
            .enumerate()
            .map(|(s, (ms, ss))| {
                let parts: Vec<(f32, f64)> = ms
                    .par_chunks_mut(CHUNK)
                    .zip(ss.par_chunks_mut(CHUNK))
                    .enumerate()
                    .map(|(c, (mc, sc))| {
                        let start = c * CHUNK;
                        let len = mc.len();
                        let planes = (0..k)
                            .map(|j| {
                                let base = (j * n + s) * p + start;
                                &data[base..base + len]
                            })
                            .collect();
                        moments(&Planes { planes }, 0, mc, sc);
                        let best = mc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let var: f64 = sc.iter().map(|&v| (v as f64) * (v as f64)).sum();
                        (best, var)
                    })
                    .collect();
                let best = parts.iter().map(|c| c.0).fold(f32::NEG_INFINITY, f32::max);
                let var = parts.iter().map(|c| c.1).sum::<f64>() / p as f64;
                (best as f64, var)
            })
            .collect();
        Ok(PixelMoments {
            mean,
            std,
            best: per_sample.iter().map(|v| v.0).collect(),
            mean_var: per_sample.iter().map(|v| v.1).collect(),
            p,
        })
    }

    /// Runs `f(sample, mean, std, out)` over every chunk of every sample in
    /// parallel, writing into a fresh `[N * P]` output.
    pub fn map<F>(&self, f: F) -> Vec<f32>
    where
        F: Fn(usize, &[f32], &[f32], &mut [f32]) + Sync,
    {
        let p = self.p;
        let mut out = vec![0.0f32; self.mean.len()];
        out.par_chunks_mut(p)
            .zip(self.mean.par_chunks(p))
            .zip(self.std.par_chunks(p))
            .enumerate()
            .for_each(|(s, ((o, m), sd))| {
                o.par_chunks_mut(CHUNK)
                    .zip(m.par_chunks(CHUNK))
                    .zip(sd.par_chunks(CHUNK))
                    .for_each(|((oc, mc), sc)| f(s, mc, sc, oc));
            });
        out
    }
}

/// Wraps an aggregate `[N * P]` buffer as a batch of the ensemble's map
/// shape; a non-finite value (overflow on extreme inputs) is a typed error.
pub(crate) fn finish(e: &Ensemble, values: Vec<f32>, name: &str) -> Result<AttributionBatch> {
    if let Some(index) = salience_core::validate::first_non_finite(&values) {
        return Err(SalienceError::NonFinite {
            context: format!("{name} aggregate (overflow: rescale or normalize the maps)"),
            index,
            value: values[index],
        });
    }
    e.batch_from_flat(values)
}
