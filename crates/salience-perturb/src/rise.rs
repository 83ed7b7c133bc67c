//! RISE (Petsiuk et al. 2018, "Randomized Input Sampling for Explanation
//! of Black-box Models"):
//! `S(p) = (1 / (N · p_keep)) Σ_i f_t(x ⊙ M_i + x′ ⊙ (1 − M_i)) · M_i(p)`.
//!
//! Mask M_i (as the authors' `generate_masks`): an s × s grid of
//! independent Bernoulli(p_keep) cells is upsampled bilinearly to
//! `(s + 1) · cell` pixels per side, with `cell = ⌈H / s⌉` (resp. W), then
//! cropped to H × W at a random offset in `[0, cell)` per axis. The
//! upsampling follows scikit-image's `resize(order=1, mode="reflect",
//! anti_aliasing=False)`: output pixel o samples the grid at
//! `(o + ½) · s / ((s + 1) · cell) − ½`, mirrored at the borders. The
//! original multiplies by the mask (x′ = 0, the default baseline here).
//!
//! The map is computed per pixel and written to every channel of
//! `[N, C, H, W]` inputs (so the output has the input's shape). The score
//! is whatever the model returns for the target (the paper uses softmax
//! probabilities; wrap the model accordingly).
//!
//! Masks of input i come from `seeds.for_sample(i)` (mask j from its own
//! derived stream), so the map does not depend on the batch or chunk size;
//! the paper draws one mask set for all images, which a caller gets by
//! giving every sample the same seed ([`Seeds::per_sample`]).
//!
//! Model evaluations per input: `n_masks`.

use crate::baseline::Baseline;
use crate::perturb::{check_positive, prepare, PerturbationSource, STREAM_PERTURB};
use ndarray::ArrayViewD;
use rand::RngExt;
use salience_core::seed::{derive_seed, rng};
use salience_core::BatchSize;
use salience_core::{AttributionBatch, Explainer, Model, Result, SalienceError, Seeds};

/// Configuration of [`Rise`]. The default is the paper's ImageNet setting
/// for ResNet50 (N = 4000, s = 7, p = 0.5; also `xplique`'s defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiseConfig {
    /// Number of masks N (≥ 1). Default 4000.
    pub n_masks: usize,
    /// Grid side s (1 ≤ s ≤ min(H, W)). Default 7.
    pub grid: usize,
    /// Probability that a grid cell is kept, in (0, 1). Default 0.5.
    pub p_keep: f64,
    /// What masked pixels become (the paper: zeros). Default zeros.
    pub baseline: Baseline,
    /// Masked inputs per model call: [`BatchSize::Auto`] (the default: the
    /// largest chunk within the memory budget, see [`salience_core::batch`])
    /// or a fixed size.
    pub batch_size: BatchSize,
}

impl Default for RiseConfig {
    fn default() -> Self {
        RiseConfig {
            n_masks: 4000,
            grid: 7,
            p_keep: 0.5,
            baseline: Baseline::Zeros,
            batch_size: BatchSize::Auto,
        }
    }
}

impl RiseConfig {
    /// Mahlau & Nolde (2022)'s setting (App. A): 5000 masks on a 10 × 10 grid (p_keep
    /// is not stated there; 0.5 as in the paper).
    ///
    /// ```
    /// let c = salience_perturb::RiseConfig::mahlau2022();
    /// assert_eq!((c.n_masks, c.grid), (5000, 10));
    /// ```
    pub fn mahlau2022() -> Self {
        RiseConfig {
            n_masks: 5000,
            grid: 10,
            ..Self::default()
        }
    }

    fn check(&self, h: usize, w: usize) -> Result<()> {
        check_positive("n_masks", self.n_masks)?;
        if self.grid == 0 || self.grid > h.min(w) {
            return Err(SalienceError::invalid(
                "grid",
                self.grid,
                &format!("must be in 1 ..= min(H, W) = {}", h.min(w)),
            ));
        }
        if !(self.p_keep > 0.0 && self.p_keep < 1.0) {
            return Err(SalienceError::invalid(
                "p_keep",
                self.p_keep,
                "must be in (0, 1)",
            ));
        }
        Ok(())
    }
}

/// The RISE explainer over any [`Model`]. See the [module docs](self).
///
/// ```
/// use ndarray::{Array2, Array4};
/// use salience_core::{Explainer, FnModel, Seeds};
/// use salience_perturb::{Rise, RiseConfig};
/// // A model that only looks at the top-left 4 × 4 corner of 1 × 8 × 8 images.
/// let m = FnModel::new(1, |x| {
///     let n = x.shape()[0];
///     Ok(Array2::from_shape_fn((n, 1), |(i, _)| {
///         (0..4).flat_map(|r| (0..4).map(move |c| (r, c))).map(|(r, c)| x[[i, 0, r, c]]).sum::<f32>() / 16.0
///     }))
/// });
/// let rise = Rise::with_config(m, RiseConfig { n_masks: 200, grid: 4, ..RiseConfig::default() });
/// let x = Array4::<f32>::ones((1, 1, 8, 8)).into_dyn();
/// let s = rise.explain(x.view(), &[0], Seeds::base(0))?;
/// let v = s.view();
/// assert!(v[[0, 0, 1, 1]] > v[[0, 0, 7, 7]]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Rise<M> {
    model: M,
    config: RiseConfig,
}

impl<M: Model> Rise<M> {
    /// RISE with the default configuration.
    ///
    /// ```
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let e = salience_perturb::Rise::new(m);
    /// assert_eq!((e.config().n_masks, e.config().grid), (4000, 7));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(model: M) -> Self {
        Self::with_config(model, RiseConfig::default())
    }

    /// RISE with `config`.
    pub fn with_config(model: M, config: RiseConfig) -> Self {
        Rise { model, config }
    }

    /// The configuration.
    pub fn config(&self) -> &RiseConfig {
        &self.config
    }

    /// Model evaluations per input: `n_masks`.
    ///
    /// ```
    /// use salience_perturb::Rise;
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// assert_eq!(Rise::new(m).model_evaluations(), 4000);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn model_evaluations(&self) -> usize {
        self.config.n_masks
    }

    /// The masks `[n, H, W]` that input `sample_seed` uses, masks
    /// `0 .. n` (for inspection and tests).
    ///
    /// ```
    /// use salience_perturb::{Rise, RiseConfig};
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let r = Rise::with_config(m, RiseConfig { grid: 2, ..RiseConfig::default() });
    /// let masks = r.masks(5, 12, 12, 3)?;
    /// assert_eq!(masks.shape(), &[3, 12, 12]);
    /// assert!(masks.iter().all(|&v| (0.0..=1.0).contains(&v)));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn masks(
        &self,
        sample_seed: u64,
        h: usize,
        w: usize,
        n: usize,
    ) -> Result<ndarray::Array3<f32>> {
        self.config.check(h, w)?;
        let mask_gen = MaskGen::new(self.config.grid, self.config.p_keep, h, w);
        let mut out = vec![0f32; n * h * w];
        for (t, chunk) in out.chunks_exact_mut(h * w).enumerate() {
            mask_gen.mask(sample_seed, t, chunk);
        }
        ndarray::Array3::from_shape_vec((n, h, w), out)
            .map_err(|e| SalienceError::backend("ndarray", e))
    }
}

/// Interpolation taps (i0, i1, t) of one axis of the upsampled grid.
fn taps(s: usize, up: usize) -> Vec<(usize, usize, f32)> {
    let scale = s as f64 / up as f64;
    let last = (s - 1) as f64;
    (0..up)
        .map(|o| {
            let mut c = (o as f64 + 0.5) * scale - 0.5;
            if s == 1 {
                c = 0.0;
            } else {
                if c < 0.0 {
                    c = -c;
                }
                if c > last {
                    c = 2.0 * last - c;
                }
                c = c.clamp(0.0, last);
            }
            let i0 = c.floor() as usize;
            let i1 = (i0 + 1).min(s - 1);
            (i0, i1, (c - i0 as f64) as f32)
        })
        .collect()
}

/// Generates RISE masks for one image size.
struct MaskGen {
    s: usize,
    p: f64,
    h: usize,
    w: usize,
    cell: (usize, usize),
    rows: Vec<(usize, usize, f32)>,
    cols: Vec<(usize, usize, f32)>,
}

impl MaskGen {
    fn new(s: usize, p: f64, h: usize, w: usize) -> Self {
        let cell = (h.div_ceil(s), w.div_ceil(s));
        MaskGen {
            s,
            p,
            h,
            w,
            cell,
            rows: taps(s, (s + 1) * cell.0),
            cols: taps(s, (s + 1) * cell.1),
        }
    }

    /// Mask `t` of the input with seed `seed`, `[H * W]`.
    fn mask(&self, seed: u64, t: usize, out: &mut [f32]) {
        let mut g = rng(derive_seed(derive_seed(seed, STREAM_PERTURB), t as u64));
        let s = self.s;
        let grid: Vec<f32> = (0..s * s)
            .map(|_| (g.random::<f64>() < self.p) as u8 as f32)
            .collect();
        let dy = g.random_range(0..self.cell.0);
        let dx = g.random_range(0..self.cell.1);
        for r in 0..self.h {
            let (a0, a1, ta) = self.rows[r + dy];
            for c in 0..self.w {
                let (b0, b1, tb) = self.cols[c + dx];
                let top = grid[a0 * s + b0] * (1.0 - tb) + grid[a0 * s + b1] * tb;
                let bot = grid[a1 * s + b0] * (1.0 - tb) + grid[a1 * s + b1] * tb;
                out[r * self.w + c] = top * (1.0 - ta) + bot * ta;
            }
        }
    }
}

struct Source<'a> {
    mask_gen: &'a MaskGen,
    seeds: Vec<u64>,
    x: &'a [f32],
    base: &'a [f32],
    f: usize,
    mask: Vec<f32>,
    acc: Vec<f64>,
}

impl PerturbationSource for Source<'_> {
    fn fill(&mut self, i: usize, k: usize, out: &mut [f32]) -> Result<()> {
        let hw = self.mask_gen.h * self.mask_gen.w;
        self.mask_gen.mask(self.seeds[i], k, &mut self.mask);
        let r = i * self.f..(i + 1) * self.f;
        let (x, b) = (&self.x[r.clone()], &self.base[r]);
        for (e, o) in out.iter_mut().enumerate() {
            let m = self.mask[e % hw];
            *o = b[e] + m * (x[e] - b[e]);
        }
        Ok(())
    }
    fn consume(&mut self, i: usize, k: usize, score: f32) -> Result<()> {
        let hw = self.mask_gen.h * self.mask_gen.w;
        self.mask_gen.mask(self.seeds[i], k, &mut self.mask);
        let s = score as f64;
        for (a, m) in self.acc[i * hw..(i + 1) * hw].iter_mut().zip(&self.mask) {
            *a += s * *m as f64;
        }
        Ok(())
    }
}

impl<M: Model> Explainer for Rise<M> {
    fn name(&self) -> &str {
        "rise"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let (h, w) = match *inputs.shape() {
            [_, _, h, w] | [_, h, w] => (h, w),
            _ => {
                return Err(SalienceError::shape(
                    "RISE inputs",
                    "[N, C, H, W] or [N, H, W]",
                    inputs.shape(),
                ))
            }
        };
        self.config.check(h, w)?;
        let p = prepare(&inputs, targets, &self.model, &self.config.baseline, seeds)?;
        let mask_gen = MaskGen::new(self.config.grid, self.config.p_keep, h, w);
        let hw = h * w;
        let mut src = Source {
            mask_gen: &mask_gen,
            seeds: (0..p.n).map(|i| seeds.for_sample(i)).collect(),
            x: &p.x,
            base: &p.base,
            f: p.features,
            mask: vec![0.0; hw],
            acc: vec![0.0; p.n * hw],
        };
        let counts = vec![self.config.n_masks; p.n];
        p.run(&self.model, &counts, self.config.batch_size, &mut src)?;
        let norm = 1.0 / (self.config.n_masks as f64 * self.config.p_keep);
        let f = p.features;
        let mut out = vec![0f32; p.n * f];
        for i in 0..p.n {
            for e in 0..f {
                out[i * f + e] = (src.acc[i * hw + e % hw] * norm) as f32;
            }
        }
        p.batch(out)
    }
}
