//! Occlusion (Zeiler & Fergus 2014), with Captum's semantics: a window
//! slides over the input with the given strides; each window position is
//! replaced by the baseline, and every element gets the mean, over the
//! windows covering it, of `f_t(x) − f_t(x with the window occluded)`.
//!
//! Window positions along a sample axis of size d with window k and stride
//! s are 0, s, 2s, … up to d − k: ⌊(d − k)/s⌋ + 1 positions. Model
//! evaluations per input: 1 + Π over axes of the position counts.
//!
//! Differences from Captum: elements that no window covers (when
//! (d − k) is not a multiple of s) get 0 instead of Captum's 0/0 = NaN;
//! a window of lower rank than the input covers the leading axes entirely
//! (a `[kh, kw]` window on `[C, H, W]` inputs occludes all channels,
//! Captum's `(C, kh, kw)`).

use crate::baseline::Baseline;
use crate::perturb::{fill_ablated, prepare, PerturbationSource};
use ndarray::ArrayViewD;
use salience_core::BatchSize;
use salience_core::{AttributionBatch, Explainer, Model, Result, SalienceError, Seeds};

/// Configuration of [`Occlusion`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcclusionConfig {
    /// The window shape over the trailing sample axes (a `[kh, kw]` window
    /// on `[C, H, W]` inputs spans all channels). Default `[4, 4]`.
    pub window: Vec<usize>,
    /// Strides over the same axes as `window` (≥ 1). Default `[1, 1]`
    /// (Captum's default stride of 1).
    pub strides: Vec<usize>,
    /// What occluded elements are replaced with. Default zeros.
    pub baseline: Baseline,
    /// Perturbed inputs per model call: [`BatchSize::Auto`] (the default: the
    /// largest chunk within the memory budget, see [`salience_core::batch`])
    /// or a fixed size.
    pub batch_size: BatchSize,
}

impl Default for OcclusionConfig {
    fn default() -> Self {
        OcclusionConfig {
            window: vec![4, 4],
            strides: vec![1, 1],
            baseline: Baseline::Zeros,
            batch_size: BatchSize::Auto,
        }
    }
}

impl OcclusionConfig {
    /// A `size × size` window (all channels) with stride `stride`.
    ///
    /// ```
    /// let c = salience_perturb::OcclusionConfig::square(8, 4);
    /// assert_eq!((c.window.clone(), c.strides.clone()), (vec![8, 8], vec![4, 4]));
    /// ```
    pub fn square(size: usize, stride: usize) -> Self {
        OcclusionConfig {
            window: vec![size, size],
            strides: vec![stride, stride],
            ..Self::default()
        }
    }

    /// Quantus's `explain` default: window `(1, 4, 4)` (one channel at a
    /// time), stride 1.
    ///
    /// ```
    /// assert_eq!(salience_perturb::OcclusionConfig::quantus().window, vec![1, 4, 4]);
    /// ```
    pub fn quantus() -> Self {
        OcclusionConfig {
            window: vec![1, 4, 4],
            strides: vec![1, 1, 1],
            ..Self::default()
        }
    }
}

/// The Occlusion explainer over any [`Model`]. See the [module docs](self).
///
/// ```
/// use ndarray::array;
/// use salience_core::{Explainer, LinearModel, Seeds};
/// use salience_perturb::{Occlusion, OcclusionConfig};
/// let m = LinearModel::new(array![[1.0f32, -2.0, 3.0, 0.5]], array![0.0f32])?;
/// let x = array![[[2.0f32, 1.0], [1.0, 4.0]]].into_dyn(); // [1, 2, 2]
/// let occ = Occlusion::with_config(m, OcclusionConfig::square(1, 1));
/// let a = occ.explain(x.view(), &[0], Seeds::base(0))?;
/// // 1 × 1 window, zero baseline, linear model: x ⊙ W.
/// assert_eq!(a.view().iter().copied().collect::<Vec<_>>(), vec![2.0, -2.0, 3.0, 2.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Occlusion<M> {
    model: M,
    config: OcclusionConfig,
}

impl<M: Model> Occlusion<M> {
    /// Occlusion with the default configuration.
    ///
    /// ```
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let e = salience_perturb::Occlusion::new(m);
    /// assert_eq!(e.config().window, vec![4, 4]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(model: M) -> Self {
        Self::with_config(model, OcclusionConfig::default())
    }

    /// Occlusion with `config`.
    pub fn with_config(model: M, config: OcclusionConfig) -> Self {
        Occlusion { model, config }
    }

    /// The configuration.
    pub fn config(&self) -> &OcclusionConfig {
        &self.config
    }

    /// Model evaluations per input of per-sample shape `sample_shape`:
    /// 1 + the number of window positions.
    ///
    /// ```
    /// use salience_perturb::{Occlusion, OcclusionConfig};
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 36)), ndarray::Array1::zeros(1))?;
    /// let occ = Occlusion::with_config(m, OcclusionConfig::square(2, 2));
    /// assert_eq!(occ.model_evaluations(&[1, 6, 6])?, 1 + 9);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn model_evaluations(&self, sample_shape: &[usize]) -> Result<usize> {
        let g = Geometry::new(&self.config, sample_shape)?;
        Ok(1 + g.n_windows)
    }
}

/// Full-rank window, strides and position counts.
struct Geometry {
    shape: Vec<usize>,
    window: Vec<usize>,
    strides: Vec<usize>,
    positions: Vec<usize>,
    n_windows: usize,
}

impl Geometry {
    fn new(cfg: &OcclusionConfig, shape: &[usize]) -> Result<Self> {
        let r = shape.len();
        let kw = cfg.window.len();
        if kw == 0 || kw > r {
            return Err(SalienceError::invalid(
                "window",
                format!("{:?}", cfg.window),
                &format!("needs 1 to {r} axes for per-sample shape {shape:?}"),
            ));
        }
        if cfg.strides.len() != kw {
            return Err(SalienceError::invalid(
                "strides",
                format!("{:?}", cfg.strides),
                "must have as many axes as the window",
            ));
        }
        let lead = r - kw;
        let mut window = shape[..lead].to_vec();
        window.extend_from_slice(&cfg.window);
        let mut strides = vec![1usize; lead];
        strides.extend_from_slice(&cfg.strides);
        let mut positions = Vec::with_capacity(r);
        for d in 0..r {
            if window[d] == 0 || strides[d] == 0 {
                return Err(SalienceError::invalid(
                    "window/strides",
                    format!("{:?} / {:?}", cfg.window, cfg.strides),
                    "every window side and stride must be at least 1",
                ));
            }
            if window[d] > shape[d] {
                return Err(SalienceError::invalid(
                    "window",
                    format!("{:?}", cfg.window),
                    &format!("is larger than the input {shape:?}"),
                ));
            }
            positions.push((shape[d] - window[d]) / strides[d] + 1);
        }
        let n_windows = positions.iter().product();
        Ok(Geometry {
            shape: shape.to_vec(),
            window,
            strides,
            positions,
            n_windows,
        })
    }

    /// Calls `f` with the flat index of every element of window `w`.
    fn for_each(&self, w: usize, mut f: impl FnMut(usize)) {
        let r = self.shape.len();
        // Window origin.
        let mut origin = vec![0usize; r];
        let mut rem = w;
        for d in (0..r).rev() {
            origin[d] = (rem % self.positions[d]) * self.strides[d];
            rem /= self.positions[d];
        }
        let count: usize = self.window.iter().product();
        let mut off = vec![0usize; r];
        for _ in 0..count {
            let mut flat = 0usize;
            for d in 0..r {
                flat = flat * self.shape[d] + origin[d] + off[d];
            }
            f(flat);
            for d in (0..r).rev() {
                off[d] += 1;
                if off[d] < self.window[d] {
                    break;
                }
                off[d] = 0;
            }
        }
    }
}

struct Source<'a> {
    g: &'a Geometry,
    x: &'a [f32],
    base: &'a [f32],
    f: usize,
    fx: Vec<f32>,
    acc: Vec<f64>,
    cover: Vec<u32>,
}

impl PerturbationSource for Source<'_> {
    fn fill(&mut self, i: usize, k: usize, out: &mut [f32]) -> Result<()> {
        let g = self.g;
        fill_ablated((self.x, self.base, self.f), (i, k), out, |w, b, out| {
            g.for_each(w, |e| out[e] = b[e])
        });
        Ok(())
    }
    fn consume(&mut self, i: usize, k: usize, score: f32) -> Result<()> {
        if k == 0 {
            self.fx[i] = score;
            return Ok(());
        }
        let d = self.fx[i] as f64 - score as f64;
        let f = self.f;
        let (acc, cover) = (&mut self.acc, &mut self.cover);
        self.g.for_each(k - 1, |e| {
            acc[i * f + e] += d;
            if i == 0 {
                cover[e] += 1;
            }
        });
        Ok(())
    }
}

impl<M: Model> Explainer for Occlusion<M> {
    fn name(&self) -> &str {
        "occlusion"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let p = prepare(&inputs, targets, &self.model, &self.config.baseline, seeds)?;
        let g = Geometry::new(&self.config, &p.sample_shape)?;
        let mut src = Source {
            g: &g,
            x: &p.x,
            base: &p.base,
            f: p.features,
            fx: vec![0.0; p.n],
            acc: vec![0.0; p.x.len()],
            cover: vec![0; p.features],
        };
        let counts = vec![1 + g.n_windows; p.n];
        p.run(&self.model, &counts, self.config.batch_size, &mut src)?;
        let f = p.features;
        let out: Vec<f32> = src
            .acc
            .iter()
            .enumerate()
            .map(|(j, a)| {
                let c = src.cover[j % f];
                if c == 0 {
                    0.0
                } else {
                    (a / c as f64) as f32
                }
            })
            .collect();
        p.batch(out)
    }
}
