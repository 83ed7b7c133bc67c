//! Perturbations of the metric-evaluation samples (Decker et al. 2024,
//! App. C.1): uniform L∞ noise for Average-Sensitivity, and binary pixel
//! masks whose pixels are replaced by a (blurred) baseline for Infidelity.
//!
//! Every perturbation is drawn from its own seed, so the perturbations — and
//! therefore the Gram matrices built from them — do not depend on the chunk
//! size or the thread count. The seed of perturbation j of input i is
//! `derive_seed(derive_seed(seeds.for_sample(i), stream), j)`, where the
//! stream tag ([`SeedStream`]) separates the sensitivity and infidelity
//! perturbations and the fitting samples (m_agg) from the held-out ones
//! (m_eval).

use ndarray::{ArrayD, ArrayViewD};
use rand::seq::SliceRandom;
use rand::RngExt;
use salience_core::seed::{derive_seed, rng};
use salience_core::validate::check_finite;
use salience_core::{Layout, Result, SalienceError};

/// Which stream of perturbations a Gram is built from.
///
/// ```
/// use salience_optimize::SeedStream;
/// assert_eq!(SeedStream::default(), SeedStream::Fit);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeedStream {
    /// The samples the weights are fitted on (m_agg).
    #[default]
    Fit,
    /// Fresh samples for a held-out evaluation (m_eval), independent of
    /// [`SeedStream::Fit`].
    Eval,
}

impl SeedStream {
    /// The sample seed that `salience_metrics::infidelity` must be given
    /// to draw exactly the perturbations [`crate::faith_gram`] draws for a
    /// sample whose seed is `sample_seed` in this stream: perturbation `j`
    /// comes from `salience_metrics::perturbation::perturbation_seed(
    /// self.infidelity_seed(sample_seed), j)`.
    ///
    /// ```
    /// use salience_optimize::SeedStream;
    /// assert_ne!(SeedStream::Fit.infidelity_seed(1), SeedStream::Eval.infidelity_seed(1));
    /// ```
    pub fn infidelity_seed(self, sample_seed: u64) -> u64 {
        let tag = match self {
            SeedStream::Fit => 0x494E_4644_0000_F17A,
            SeedStream::Eval => 0x494E_4644_0000_E7A1,
        };
        derive_seed(sample_seed, tag)
    }
}

/// Which metric a perturbation seed is for (part of the stream tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Sensitivity,
    Infidelity,
}

/// The seed of perturbation `j` of an input whose seed is `sample_seed`.
pub(crate) fn perturbation_seed(
    sample_seed: u64,
    metric: MetricKind,
    stream: SeedStream,
    j: usize,
) -> u64 {
    // Large tags, so they never collide with the small per-method streams
    // (0..k) that `explain_ensemble` derives from the same sample seed.
    let tag = match (metric, stream) {
        (MetricKind::Sensitivity, SeedStream::Fit) => 0x5345_4E53_0000_F17A,
        (MetricKind::Sensitivity, SeedStream::Eval) => 0x5345_4E53_0000_E7A1,
        (MetricKind::Infidelity, _) => {
            return salience_metrics::perturbation::perturbation_seed(
                stream.infidelity_seed(sample_seed),
                j,
            )
        }
    };
    derive_seed(derive_seed(sample_seed, tag), j as u64)
}

/// Uniform L∞ noise ε ~ U\[−r, r\]^d (Decker et al. (2024), App. C.1: r = 0.1), added to
/// every input feature (all channels).
///
/// ```
/// use salience_optimize::UniformNoise;
/// let noise = UniformNoise::default();
/// assert_eq!(noise.radius, 0.1);
/// let x = [1.0f32; 8];
/// let mut out = [0.0f32; 8];
/// noise.apply(&x, &mut out, 7)?;
/// assert!(out.iter().all(|v| (v - 1.0).abs() <= 0.1 + 1e-6));
/// let mut again = [0.0f32; 8];
/// noise.apply(&x, &mut again, 7)?;
/// assert_eq!(out, again);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UniformNoise {
    /// The radius r ≥ 0 (in input units: for a normalized model input, in
    /// normalized units, as in aggopt).
    pub radius: f32,
}

impl Default for UniformNoise {
    /// r = 0.1, the paper's value.
    fn default() -> Self {
        UniformNoise { radius: 0.1 }
    }
}

impl UniformNoise {
    /// Checks r (finite, ≥ 0).
    ///
    /// ```
    /// assert!(salience_optimize::UniformNoise { radius: -1.0 }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if !(self.radius.is_finite() && self.radius >= 0.0) {
            return Err(SalienceError::invalid(
                "noise radius",
                self.radius,
                "must be finite and ≥ 0",
            ));
        }
        Ok(())
    }

    /// Writes x + ε into `out` (same length as `x`), ε drawn from `seed`.
    /// Non-finite values in `x`, and x + ε overflowing f32, are a
    /// [`SalienceError::NonFinite`] (`out` may then be partly written).
    ///
    /// ```
    /// let mut out = [0.0f32; 2];
    /// assert!(salience_optimize::UniformNoise::default().apply(&[0.0], &mut out, 0).is_err());
    /// ```
    pub fn apply(&self, x: &[f32], out: &mut [f32], seed: u64) -> Result<()> {
        self.validate()?;
        if x.len() != out.len() {
            return Err(SalienceError::shape(
                "noise output",
                format!("[{}] (the input length)", x.len()),
                &[out.len()],
            ));
        }
        if let Some((index, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "noise input x".into(),
                index,
                value,
            });
        }
        let mut g = rng(seed);
        let r = self.radius;
        for (o, &v) in out.iter_mut().zip(x) {
            let u: f32 = g.random();
            *o = v + r * (2.0 * u - 1.0);
        }
        if let Some((index, &value)) = out.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "noisy input x + ε (overflow: x or the radius too large for f32)".into(),
                index,
                value,
            });
        }
        Ok(())
    }
}

/// The workspace's one Gaussian blur (torchvision's `gaussian_blur`,
/// reflect border): the blurred baseline here is the image the infidelity
/// metric of `salience_metrics` uses.
pub use salience_core::blur::GaussianBlur;

/// The shape of the regions a binary infidelity perturbation I replaces.
///
/// ```
/// use salience_optimize::MaskShape;
/// assert_eq!(MaskShape::default(), MaskShape::Pixels);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskShape {
    /// `round(share·H·W)` distinct pixels drawn uniformly (for tabular
    /// inputs: features): `salience_metrics::Perturbation::RandomPixels`,
    /// drawn by the same function
    /// (`salience_metrics::perturbation::random_pixel_mask`).
    #[default]
    Pixels,
    /// Square patches of `size × size` pixels at uniform random positions
    /// (fully inside the image, overlaps allowed), added until at least
    /// `share·H·W` pixels are covered (the last patch may overshoot).
    Squares {
        /// Side length in pixels (1 ≤ size ≤ min(H, W)).
        size: usize,
    },
    /// A fixed grid of `size × size` cells (the last row/column of cells
    /// may be smaller); `round(share·cells)` distinct cells are drawn, like
    /// aggopt's segment masks with a 16×16-patch feature mask.
    Grid {
        /// Cell side length in pixels (≥ 1).
        size: usize,
    },
}

/// How binary infidelity perturbations are drawn: the share of the image
/// area replaced (App. C.1: 20%) and the shape of the replaced regions.
///
/// ```
/// use salience_optimize::{MaskShape, PixelMasks};
/// let masks = PixelMasks { share: 0.25, shape: MaskShape::Pixels };
/// let m = masks.sample(4, 4, 3)?;
/// assert_eq!(m.len(), 4);
/// assert_eq!(m, masks.sample(4, 4, 3)?);
/// assert!(m.windows(2).all(|p| p[0] < p[1]));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelMasks {
    /// Share of the H·W pixels replaced, in (0, 1].
    pub share: f64,
    /// Region shape.
    pub shape: MaskShape,
}

impl Default for PixelMasks {
    /// 20% of the pixels, drawn individually.
    fn default() -> Self {
        PixelMasks {
            share: 0.2,
            shape: MaskShape::Pixels,
        }
    }
}

impl PixelMasks {
    /// Checks the share and the region size against an `h × w` image.
    ///
    /// ```
    /// use salience_optimize::{MaskShape, PixelMasks};
    /// assert!(PixelMasks { share: 0.0, shape: MaskShape::Pixels }.validate(4, 4).is_err());
    /// assert!(PixelMasks { share: 0.2, shape: MaskShape::Squares { size: 5 } }.validate(4, 4).is_err());
    /// ```
    pub fn validate(&self, h: usize, w: usize) -> Result<()> {
        if !(self.share.is_finite() && self.share > 0.0 && self.share <= 1.0) {
            return Err(SalienceError::invalid(
                "mask share",
                self.share,
                "must be in (0, 1]",
            ));
        }
        match self.shape {
            MaskShape::Pixels => {}
            MaskShape::Squares { size } => {
                if size == 0 || size > h.min(w) {
                    return Err(SalienceError::invalid(
                        "square patch size",
                        size,
                        &format!("must be in 1..={} (the image is {h}×{w})", h.min(w)),
                    ));
                }
            }
            MaskShape::Grid { size } => {
                if size == 0 {
                    return Err(SalienceError::invalid(
                        "grid cell size",
                        size,
                        "must be ≥ 1",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The replaced pixels (flat indices `y·w + x`, sorted, distinct) of
    /// the mask drawn from `seed`, for an `h × w` image. At least one pixel
    /// is always selected.
    ///
    /// ```
    /// use salience_optimize::{MaskShape, PixelMasks};
    /// let sq = PixelMasks { share: 0.2, shape: MaskShape::Squares { size: 2 } };
    /// assert!(sq.sample(10, 10, 1)?.len() >= 20);
    /// let grid = PixelMasks { share: 0.5, shape: MaskShape::Grid { size: 2 } };
    /// assert_eq!(grid.sample(4, 4, 1)?.len(), 8);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn sample(&self, h: usize, w: usize, seed: u64) -> Result<Vec<u32>> {
        self.validate(h, w)?;
        let n = h * w;
        if n == 0 || n > u32::MAX as usize {
            return Err(SalienceError::invalid(
                "image size",
                n,
                "must be between 1 and 2^32 − 1 pixels",
            ));
        }
        let mut g = rng(seed);
        let count = |total: usize| ((self.share * total as f64).round() as usize).clamp(1, total);
        let mut out: Vec<u32> = match self.shape {
            // The infidelity metric's own draw (one definition).
            MaskShape::Pixels => {
                salience_metrics::perturbation::random_pixel_mask(self.share, n, seed)?
                    .into_iter()
                    .map(|p| p as u32)
                    .collect()
            }
            MaskShape::Squares { size } => {
                let target = ((self.share * n as f64).ceil() as usize).clamp(1, n);
                let mut flags = vec![false; n];
                let mut covered = 0;
                while covered < target {
                    let y0 = g.random_range(0..=h - size);
                    let x0 = g.random_range(0..=w - size);
                    for y in y0..y0 + size {
                        for f in &mut flags[y * w + x0..y * w + x0 + size] {
                            if !*f {
                                *f = true;
                                covered += 1;
                            }
                        }
                    }
                }
                (0..n as u32).filter(|&i| flags[i as usize]).collect()
            }
            MaskShape::Grid { size } => {
                let (gh, gw) = (h.div_ceil(size), w.div_ceil(size));
                let mut cells: Vec<usize> = (0..gh * gw).collect();
                let (chosen, _) = cells.partial_shuffle(&mut g, count(gh * gw));
                let mut px = Vec::new();
                for &c in chosen.iter() {
                    let (cy, cx) = (c / gw, c % gw);
                    for y in cy * size..((cy + 1) * size).min(h) {
                        for x in cx * size..((cx + 1) * size).min(w) {
                            px.push((y * w + x) as u32);
                        }
                    }
                }
                px
            }
        };
        out.sort_unstable();
        Ok(out)
    }
}

/// The baseline x_b whose values replace the masked pixels, h(x, x_b, I)
/// (App. C.1).
///
/// ```
/// use ndarray::Array;
/// use salience_optimize::{Baseline, GaussianBlur};
/// let x = Array::from_elem((1, 1, 3, 3), 1.0f32).into_dyn();
/// let b = Baseline::Blur(GaussianBlur::default()).resolve(x.view())?;
/// assert_eq!(b.shape(), x.shape());
/// assert_eq!(Baseline::Zeros.resolve(x.view())?.sum(), 0.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Baseline<'a> {
    /// A Gaussian-blurred copy of each input (the paper's choice).
    Blur(GaussianBlur),
    /// All zeros (Captum's/aggopt's fallback).
    Zeros,
    /// Baselines given by the caller, one per input (the shape of x).
    Given(ArrayViewD<'a, f32>),
}

impl Default for Baseline<'_> {
    /// [`Baseline::Blur`] with [`GaussianBlur::default`] (σ = 5, kernel 11:
    /// the blur of `salience_metrics::InfidelityConfig::decker2024`).
    fn default() -> Self {
        Baseline::Blur(GaussianBlur::default())
    }
}

impl Baseline<'_> {
    /// The baseline batch for inputs `x` `[N, ...]`.
    ///
    /// ```
    /// use ndarray::Array;
    /// use salience_optimize::Baseline;
    /// let x = Array::<f32, _>::zeros((2, 3)).into_dyn();
    /// let wrong = Array::<f32, _>::zeros((2, 4)).into_dyn();
    /// assert!(Baseline::Given(wrong.view()).resolve(x.view()).is_err());
    /// ```
    pub fn resolve(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        match self {
            Baseline::Blur(b) => b.apply(x),
            Baseline::Zeros => Ok(ArrayD::zeros(x.raw_dim())),
            Baseline::Given(b) => {
                if b.shape() != x.shape() {
                    return Err(SalienceError::shape(
                        "baseline",
                        format!("{:?} (the shape of the inputs)", x.shape()),
                        b.shape(),
                    ));
                }
                check_finite(b, "baseline")?;
                Ok(b.as_standard_layout().into_owned())
            }
        }
    }
}

/// The spatial view of an input batch: pixels are the last two axes (the
/// features of a tabular input), every channel of a pixel is replaced
/// together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputGeometry {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
}

impl InputGeometry {
    /// From an input batch `[N, D]`, `[N, H, W]` or `[N, C, H, W]`.
    pub(crate) fn of(x: &ArrayViewD<'_, f32>) -> Result<Self> {
        let s = x.shape();
        let g = match *s {
            [n, d] => InputGeometry {
                n,
                c: 1,
                h: 1,
                w: d,
            },
            [n, h, w] => InputGeometry { n, c: 1, h, w },
            [n, c, h, w] => InputGeometry { n, c, h, w },
            _ => {
                return Err(SalienceError::shape(
                    "inputs",
                    "[N, D], [N, H, W] or [N, C, H, W]",
                    s,
                ))
            }
        };
        if s.contains(&0) {
            return Err(SalienceError::Empty(format!("inputs of shape {s:?}")));
        }
        Ok(g)
    }

    pub(crate) fn pixels(&self) -> usize {
        self.h * self.w
    }

    pub(crate) fn features(&self) -> usize {
        self.c * self.h * self.w
    }

    /// How a pixel mask maps to the features of attribution maps of
    /// `layout`: `Some(channels)` if the maps carry `channels` values per
    /// pixel (channel-major, like the input), or an error.
    pub(crate) fn attribution_channels(&self, layout: Layout) -> Result<usize> {
        let ok = match layout {
            Layout::Image { c, h, w } if (h, w) == (self.h, self.w) && c == self.c => Some(c),
            Layout::PixelMap { h, w } if (h, w) == (self.h, self.w) => Some(1),
            Layout::Tabular { d } if self.h == 1 && d == self.w && self.c == 1 => Some(1),
            _ => None,
        };
        ok.ok_or_else(|| {
            SalienceError::shape(
                "attribution maps",
                format!(
                    "[N, {c}, {h}, {w}] (the input's shape) or [N, {h}, {w}] (pixel maps)",
                    c = self.c,
                    h = self.h,
                    w = self.w
                ),
                &layout.dims(),
            )
        })
    }
}

/// Writes h(x, x_b, I): `x` with the pixels `mask` (all channels) taken
/// from `baseline`. All three are one input's flat `[C·H·W]` values.
pub(crate) fn replace_pixels(
    x: &[f32],
    baseline: &[f32],
    mask: &[u32],
    geo: &InputGeometry,
    out: &mut [f32],
) {
    out.copy_from_slice(x);
    let hw = geo.pixels();
    for ch in 0..geo.c {
        let off = ch * hw;
        for &p in mask {
            let t = off + p as usize;
            out[t] = baseline[t];
        }
    }
}

/// The attribution features selected by a pixel mask.
pub(crate) fn mask_features(mask: &[u32], channels: usize, hw: usize, out: &mut Vec<usize>) {
    out.clear();
    for ch in 0..channels {
        out.extend(mask.iter().map(|&p| ch * hw + p as usize));
    }
}

/// One input `i` of a standard-layout batch, as a flat slice.
pub(crate) fn sample_slice(x: &ArrayD<f32>, i: usize, len: usize) -> Result<&[f32]> {
    x.as_slice()
        .and_then(|s| s.get(i * len..(i + 1) * len))
        .ok_or_else(|| SalienceError::backend_msg("input batch not contiguous"))
}
