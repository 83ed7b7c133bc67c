//! A localization set with exact ground truth, in the spirit of the
//! controlled CMNIST of Bykov et al. (2022): a Fashion-MNIST item at a random
//! position and scale on a `canvas × canvas × 3` image whose background
//! carries no class information.
//!
//! Each image is drawn from its own generator, seeded with
//! `derive_seed(seed, index)`, so image `index` is the same whichever
//! range or batch size it is generated in. The drawing order is:
//!
//! 1. the background, one of three kinds chosen uniformly: smooth colour
//!    noise (a random 2×2 … 6×6 colour grid, bilinearly upsampled),
//!    a texture (stripes of two random colours at a random frequency and
//!    angle), or Gaussian noise around a random colour;
//! 2. `0 ..= max_distractors` distractors: a random crop of a random pool
//!    item (any class, drawn independently of the label), tinted with a
//!    random colour and blended at `distractor_opacity`;
//! 3. the item: a random pool image (its class is the label), resized to a
//!    random side in `min_side ..= max_side`, pasted at a random position
//!    fully inside the canvas with alpha = its intensity, in a colour
//!    that contrasts with the background under it;
//! 4. pixel noise `N(0, pixel_noise_std²)` everywhere, then clamping to
//!    `[0, 1]`.
//!
//! The ground-truth mask is exactly the set of pixels where the resized
//! item is non-zero (the only pixels step 3 changes) and the box is its
//! tight bounding box.

use crate::images::GrayImages;
use crate::resize::{resize, Interpolation};
use ndarray::{s, Array2, Array3, Array4, ArrayViewMut3, Axis};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use salience_core::seed::{derive_seed, rng, SalienceRng};
use salience_core::{Result, SalienceError};

/// Largest [`LocalizationConfig::canvas`] side (4096 pixels).
pub const MAX_CANVAS: usize = 4096;

/// Largest [`LocalizationConfig::max_distractors`] (1024 per image).
pub const MAX_DISTRACTORS: usize = 1024;

/// Largest number of f32 values (`n · 3 · canvas²`) one
/// [`LocalizationGenerator::generate`] call builds (2^30, 4 GiB): generate
/// larger sets in several calls (`start` continues the stream).
pub const MAX_GENERATE_VALUES: usize = 1 << 30;

/// Parameters of the generator. `Default` is the configuration the shipped
/// ResNet was trained on. [`LocalizationConfig::validate`] documents the
/// valid ranges (with upper limits [`MAX_CANVAS`] and [`MAX_DISTRACTORS`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalizationConfig {
    /// Side of the square canvas (default 64).
    pub canvas: usize,
    /// Smallest side of the pasted item in pixels (default 28, the native
    /// Fashion-MNIST size).
    pub min_side: usize,
    /// Largest side of the pasted item (default 44; at most `canvas`).
    pub max_side: usize,
    /// How the item is resized (default bilinear).
    pub interpolation: Interpolation,
    /// At most this many distractor crops (default 2).
    pub max_distractors: usize,
    /// Smallest side of a distractor crop, cut from a 28×28 pool image
    /// (default 8).
    pub distractor_min_side: usize,
    /// Largest side of a distractor crop (default 14).
    pub distractor_max_side: usize,
    /// Opacity of the distractors in `[0, 1]` (default 0.5).
    pub distractor_opacity: f32,
    /// Standard deviation of the final pixel noise (default 0.03).
    pub pixel_noise_std: f32,
    /// Contrast of the background around mid-grey, in `[0, 1]`: each
    /// background value `b` becomes `0.5 + background_contrast · (b − 0.5)`
    /// before distractors and item are drawn (default 1: unchanged).
    pub background_contrast: f32,
}

impl Default for LocalizationConfig {
    fn default() -> Self {
        LocalizationConfig {
            canvas: 64,
            min_side: 28,
            max_side: 44,
            interpolation: Interpolation::Bilinear,
            max_distractors: 2,
            distractor_min_side: 8,
            distractor_max_side: 14,
            distractor_opacity: 0.5,
            pixel_noise_std: 0.03,
            background_contrast: 1.0,
        }
    }
}

impl LocalizationConfig {
    /// An easier variant (the one the shipped small ResNet was trained on,
    /// because the default was out of reach of a few CPU minutes):
    /// backgrounds at half contrast, at most one distractor at opacity
    /// 0.35, item sides 28–40, pixel noise 0.02. The background still
    /// carries no class information.
    ///
    /// ```
    /// let e = salience_datasets::LocalizationConfig::easy();
    /// assert_eq!(e.max_distractors, 1);
    /// assert!(e.validate().is_ok());
    /// ```
    pub fn easy() -> Self {
        LocalizationConfig {
            max_side: 40,
            max_distractors: 1,
            distractor_opacity: 0.35,
            pixel_noise_std: 0.02,
            background_contrast: 0.5,
            ..Default::default()
        }
    }

    /// Checks every field against its valid range: `8 ≤ canvas ≤`
    /// [`MAX_CANVAS`], `1 ≤ min_side ≤ max_side ≤ canvas`,
    /// `max_distractors ≤` [`MAX_DISTRACTORS`], `1 ≤ distractor_min_side ≤
    /// distractor_max_side ≤ canvas`, opacities and contrast in `[0, 1]`,
    /// `pixel_noise_std` finite and ≥ 0.
    ///
    /// ```
    /// use salience_datasets::LocalizationConfig;
    /// assert!(LocalizationConfig::default().validate().is_ok());
    /// let bad = LocalizationConfig { max_side: 100, ..Default::default() };
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let fail = |name: &str, value: String, reason: &str| -> Result<()> {
            Err(SalienceError::invalid(name, value, reason))
        };
        if !(8..=MAX_CANVAS).contains(&self.canvas) {
            return fail(
                "canvas",
                self.canvas.to_string(),
                &format!("must be in 8..=MAX_CANVAS ({MAX_CANVAS})"),
            );
        }
        if self.max_distractors > MAX_DISTRACTORS {
            return fail(
                "max_distractors",
                self.max_distractors.to_string(),
                &format!("must be at most MAX_DISTRACTORS ({MAX_DISTRACTORS})"),
            );
        }
        if self.min_side == 0 || self.min_side > self.max_side || self.max_side > self.canvas {
            return fail(
                "min_side, max_side",
                format!("{}, {}", self.min_side, self.max_side),
                "need 1 <= min_side <= max_side <= canvas",
            );
        }
        if self.distractor_min_side == 0
            || self.distractor_min_side > self.distractor_max_side
            || self.distractor_max_side > self.canvas
        {
            return fail(
                "distractor_min_side, distractor_max_side",
                format!("{}, {}", self.distractor_min_side, self.distractor_max_side),
                "need 1 <= distractor_min_side <= distractor_max_side <= canvas",
            );
        }
        if !(0.0..=1.0).contains(&self.distractor_opacity) {
            return fail(
                "distractor_opacity",
                self.distractor_opacity.to_string(),
                "must be in [0, 1]",
            );
        }
        if !(0.0..=1.0).contains(&self.background_contrast) {
            return fail(
                "background_contrast",
                self.background_contrast.to_string(),
                "must be in [0, 1]",
            );
        }
        if !(self.pixel_noise_std.is_finite() && self.pixel_noise_std >= 0.0) {
            return fail(
                "pixel_noise_std",
                self.pixel_noise_std.to_string(),
                "must be finite and >= 0",
            );
        }
        Ok(())
    }
}

/// The ground-truth box type: salience-core's [`BoundingBox`] (the one the
/// localisation metrics take).
pub use salience_core::BoundingBox;

/// Where the item of an image came from and where it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index of the item in the pool.
    pub source: usize,
    /// Row of the resized item's top-left corner on the canvas.
    pub top: usize,
    /// Column of the resized item's top-left corner.
    pub left: usize,
    /// Side of the resized (square) item.
    pub side: usize,
}

/// A batch of generated (or shipped) localization images.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalizationSet {
    /// `[n, 3, canvas, canvas]` floats in `[0, 1]`.
    pub images: Array4<f32>,
    /// The class of each image's item.
    pub labels: Vec<usize>,
    /// `[n, canvas, canvas]` ground truth: the item's non-zero pixels.
    pub masks: Array3<bool>,
    /// The tight bounding box of each mask.
    pub boxes: Vec<BoundingBox>,
    /// Where each item came from.
    pub placements: Vec<Placement>,
}

impl LocalizationSet {
    /// The number of images.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((1, 28, 28), 200u8), vec![3]).unwrap();
    /// let set = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap().generate(0, 0, 2).unwrap();
    /// assert_eq!(set.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((1, 28, 28), 200u8), vec![3]).unwrap();
    /// let set = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap().generate(0, 0, 1).unwrap();
    /// assert!(!set.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Renders localization images from a pool of grey items.
#[derive(Debug, Clone)]
pub struct LocalizationGenerator<'a> {
    pool: &'a GrayImages,
    config: LocalizationConfig,
}

/// One rendered image.
struct Rendered {
    image: Array3<f32>,
    mask: Array2<bool>,
    placement: Placement,
    label: usize,
}

impl<'a> LocalizationGenerator<'a> {
    /// A generator drawing items and distractors from `pool` (e.g. the
    /// Fashion-MNIST training split for training data, the test split for
    /// held-out data). Errors on an invalid config, or when the pool's
    /// images are smaller than `distractor_max_side`.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((1, 28, 28), 200u8), vec![3]).unwrap();
    /// assert!(LocalizationGenerator::new(&pool, LocalizationConfig::default()).is_ok());
    /// let small = GrayImages::new(ndarray::Array3::from_elem((1, 4, 4), 200u8), vec![3]).unwrap();
    /// assert!(LocalizationGenerator::new(&small, LocalizationConfig::default()).is_err());
    /// ```
    pub fn new(pool: &'a GrayImages, config: LocalizationConfig) -> Result<Self> {
        config.validate()?;
        let (_, h, w) = pool.images.dim();
        if h < config.distractor_max_side || w < config.distractor_max_side {
            return Err(SalienceError::invalid(
                "distractor_max_side",
                config.distractor_max_side,
                &format!("larger than the pool images ({h}x{w})"),
            ));
        }
        Ok(LocalizationGenerator { pool, config })
    }

    /// The configuration.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((1, 28, 28), 200u8), vec![3]).unwrap();
    /// let g = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap();
    /// assert_eq!(g.config().canvas, 64);
    /// ```
    pub fn config(&self) -> &LocalizationConfig {
        &self.config
    }

    /// Images `start .. start + n` of the stream of `seed`: image `i` is
    /// drawn from `derive_seed(seed, i)` alone.
    ///
    /// Errors when `n == 0`, when `n · 3 · canvas²` exceeds
    /// [`MAX_GENERATE_VALUES`] or `start + n` overflows (checked before
    /// anything is allocated), or when a drawn item (after 64 redraws) is
    /// all zero.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((2, 28, 28), 200u8), vec![3, 5]).unwrap();
    /// let g = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap();
    /// let all = g.generate(7, 0, 4).unwrap();
    /// let tail = g.generate(7, 2, 2).unwrap();
    /// assert_eq!(all.images.slice(ndarray::s![2.., .., .., ..]), tail.images);
    /// ```
    pub fn generate(&self, seed: u64, start: usize, n: usize) -> Result<LocalizationSet> {
        if n == 0 {
            return Err(SalienceError::Empty("generate: n = 0 images".into()));
        }
        let c = self.config.canvas;
        let values = n
            .checked_mul(3 * c * c)
            .filter(|&v| v <= MAX_GENERATE_VALUES);
        if values.is_none() || start.checked_add(n).is_none() {
            return Err(SalienceError::invalid(
                "n",
                n,
                &format!(
                    "start + n must not overflow and n · 3 · canvas² (canvas {c}) must be at most \
                     MAX_GENERATE_VALUES ({MAX_GENERATE_VALUES}); generate in several calls"
                ),
            ));
        }
        let mut images = Array4::<f32>::zeros((n, 3, c, c));
        let mut masks = Array3::<bool>::from_elem((n, c, c), false);
        let mut labels = Vec::with_capacity(n);
        let mut boxes = Vec::with_capacity(n);
        let mut placements = Vec::with_capacity(n);
        for k in 0..n {
            let r = self.render(seed, (start + k) as u64, true)?;
            let b = BoundingBox::of_mask(r.mask.view())
                .ok_or_else(|| SalienceError::format("localization item", "empty mask"))?;
            images.index_axis_mut(Axis(0), k).assign(&r.image);
            masks.index_axis_mut(Axis(0), k).assign(&r.mask);
            labels.push(r.label);
            boxes.push(b);
            placements.push(r.placement);
        }
        Ok(LocalizationSet {
            images,
            labels,
            masks,
            boxes,
            placements,
        })
    }

    /// Image `index` of the stream of `seed` *before* the item is pasted
    /// and before pixel noise: background and distractors only,
    /// `[3, canvas, canvas]`. With `pixel_noise_std = 0`, the generated
    /// image equals this outside the mask.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((1, 28, 28), 200u8), vec![3]).unwrap();
    /// let g = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap();
    /// assert_eq!(g.background(1, 0).unwrap().dim(), (3, 64, 64));
    /// ```
    pub fn background(&self, seed: u64, index: u64) -> Result<Array3<f32>> {
        Ok(self.render(seed, index, false)?.image)
    }

    /// The pool item `source` resized to `side` with the configured
    /// interpolation, in `[0, 1]`: the alpha of the pasted item.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((1, 28, 28), 255u8), vec![3]).unwrap();
    /// let g = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap();
    /// assert_eq!(g.item_alpha(0, 30).unwrap()[[0, 0]], 1.0);
    /// ```
    pub fn item_alpha(&self, source: usize, side: usize) -> Result<Array2<f32>> {
        if source >= self.pool.len() {
            return Err(SalienceError::invalid(
                "source",
                source,
                &format!("the pool has {} items", self.pool.len()),
            ));
        }
        let item = self
            .pool
            .images
            .index_axis(Axis(0), source)
            .mapv(|v| f32::from(v) / 255.0);
        resize(item.view(), side, side, self.config.interpolation)
    }

    fn render(&self, seed: u64, index: u64, with_item: bool) -> Result<Rendered> {
        let cfg = &self.config;
        let c = cfg.canvas;
        let mut g = rng(derive_seed(seed, index));
        let mut image = background(&mut g, c)?;
        if cfg.background_contrast < 1.0 {
            let k = cfg.background_contrast;
            image.mapv_inplace(|b| 0.5 + k * (b - 0.5));
        }
        // Distractors: crops of random pool items, independent of the label.
        let nd = g.random_range(0..=cfg.max_distractors);
        let (_, ph, pw) = self.pool.images.dim();
        for _ in 0..nd {
            let src = g.random_range(0..self.pool.len());
            let side = g.random_range(cfg.distractor_min_side..=cfg.distractor_max_side);
            let (r0, c0) = (g.random_range(0..=ph - side), g.random_range(0..=pw - side));
            let (top, left) = (g.random_range(0..=c - side), g.random_range(0..=c - side));
            let tint: [f32; 3] = [g.random(), g.random(), g.random()];
            let crop = self
                .pool
                .images
                .slice(s![src, r0..r0 + side, c0..c0 + side]);
            for ((i, j), &v) in crop.indexed_iter() {
                let a = f32::from(v) / 255.0 * cfg.distractor_opacity;
                for (ch, &t) in tint.iter().enumerate() {
                    let p = &mut image[[ch, top + i, left + j]];
                    *p = (1.0 - a) * *p + a * t;
                }
            }
        }
        // The item.
        let mut source = g.random_range(0..self.pool.len());
        let mut tries = 0;
        while self
            .pool
            .images
            .index_axis(Axis(0), source)
            .iter()
            .all(|&v| v == 0)
        {
            tries += 1;
            if tries > 64 {
                return Err(SalienceError::format(
                    "item pool",
                    "the drawn items are all zero",
                ));
            }
            source = g.random_range(0..self.pool.len());
        }
        let side = g.random_range(cfg.min_side..=cfg.max_side);
        let top = g.random_range(0..=c - side);
        let left = g.random_range(0..=c - side);
        let placement = Placement {
            source,
            top,
            left,
            side,
        };
        let label = self.pool.labels.get(source).copied().unwrap_or(0) as usize;
        let mut mask = Array2::from_elem((c, c), false);
        if !with_item {
            return Ok(Rendered {
                image,
                mask,
                placement,
                label,
            });
        }
        let alpha = self.item_alpha(source, side)?;
        // A colour contrasting (by at least 0.35 per channel) with the
        // mean background under the item.
        let mut colour = [0f32; 3];
        for (ch, col) in colour.iter_mut().enumerate() {
            let m = image
                .slice(s![ch, top..top + side, left..left + side])
                .mean()
                .unwrap_or(0.5);
            let u: f32 = g.random();
            *col = if m < 0.5 {
                (m + 0.35) + u * (1.0 - (m + 0.35))
            } else {
                u * (m - 0.35)
            };
        }
        for ((i, j), &a) in alpha.indexed_iter() {
            if a > 0.0 {
                mask[[top + i, left + j]] = true;
                for (ch, &col) in colour.iter().enumerate() {
                    let p = &mut image[[ch, top + i, left + j]];
                    *p = (1.0 - a) * *p + a * col;
                }
            }
        }
        if cfg.pixel_noise_std > 0.0 {
            for p in image.iter_mut() {
                let z: f32 = StandardNormal.sample(&mut g);
                *p = (*p + cfg.pixel_noise_std * z).clamp(0.0, 1.0);
            }
        }
        Ok(Rendered {
            image,
            mask,
            placement,
            label,
        })
    }
}

/// One of the three background kinds, `[3, c, c]` in `[0, 1]`.
fn background(g: &mut SalienceRng, c: usize) -> Result<Array3<f32>> {
    let mut img = Array3::<f32>::zeros((3, c, c));
    match g.random_range(0..3u8) {
        0 => {
            // Smooth colour noise.
            let cells = g.random_range(2..=6usize);
            for mut ch in img.outer_iter_mut() {
                let grid = Array2::from_shape_fn((cells, cells), |_| 0.1 + 0.8 * g.random::<f32>());
                ch.assign(&resize(grid.view(), c, c, Interpolation::Bilinear)?);
            }
        }
        1 => {
            // Stripes of two colours.
            let c1: [f32; 3] = [g.random(), g.random(), g.random()];
            let c2: [f32; 3] = [g.random(), g.random(), g.random()];
            let freq = 0.04 + 0.3 * g.random::<f32>();
            let angle = std::f32::consts::PI * g.random::<f32>();
            let phase = 2.0 * std::f32::consts::PI * g.random::<f32>();
            let (ca, sa) = (angle.cos(), angle.sin());
            fill(img.view_mut(), |ch, i, j| {
                let t = 0.5
                    + 0.5
                        * (2.0 * std::f32::consts::PI * freq * (j as f32 * ca + i as f32 * sa)
                            + phase)
                            .sin();
                c1[ch] * (1.0 - t) + c2[ch] * t
            });
        }
        _ => {
            // Gaussian noise around a colour.
            let mean: [f32; 3] = [
                0.2 + 0.6 * g.random::<f32>(),
                0.2 + 0.6 * g.random::<f32>(),
                0.2 + 0.6 * g.random::<f32>(),
            ];
            let std = 0.05 + 0.15 * g.random::<f32>();
            for (ch, mut plane) in img.outer_iter_mut().enumerate() {
                for p in plane.iter_mut() {
                    let z: f32 = StandardNormal.sample(&mut *g);
                    *p = (mean[ch] + std * z).clamp(0.0, 1.0);
                }
            }
        }
    }
    Ok(img)
}

fn fill(mut img: ArrayViewMut3<'_, f32>, f: impl Fn(usize, usize, usize) -> f32) {
    for ((ch, i, j), p) in img.indexed_iter_mut() {
        *p = f(ch, i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of distinct synthetic "items": a filled blob whose shape
    /// depends on the index, zeros around it.
    fn pool(n: usize) -> GrayImages {
        let mut im = Array3::<u8>::zeros((n, 28, 28));
        for k in 0..n {
            let (r0, c0) = (2 + k % 5, 3 + k % 7);
            for i in r0..r0 + 12 + k % 9 {
                for j in c0..c0 + 10 + k % 6 {
                    im[[k, i, j]] = (40 + (i * 7 + j * 3 + k) % 200) as u8;
                }
            }
        }
        GrayImages::new(im, (0..n).map(|k| (k % 10) as u8).collect()).unwrap()
    }

    #[test]
    fn mask_and_box_match_the_pasted_item_exactly() {
        let p = pool(13);
        for interp in [Interpolation::Bilinear, Interpolation::Nearest] {
            let cfg = LocalizationConfig {
                pixel_noise_std: 0.0,
                interpolation: interp,
                ..Default::default()
            };
            let g = LocalizationGenerator::new(&p, cfg).unwrap();
            let set = g.generate(11, 5, 24).unwrap();
            for k in 0..set.len() {
                let pl = set.placements[k];
                assert_eq!(set.labels[k], p.labels[pl.source] as usize);
                // Expected mask: the resized item's non-zero pixels at its position.
                let alpha = g.item_alpha(pl.source, pl.side).unwrap();
                let mut want = Array2::from_elem((64, 64), false);
                for ((i, j), &a) in alpha.indexed_iter() {
                    want[[pl.top + i, pl.left + j]] = a > 0.0;
                }
                assert_eq!(set.masks.index_axis(Axis(0), k), want, "image {k}");
                // Box = tight box of the mask, and inside the item square.
                let b = set.boxes[k];
                assert_eq!(Some(b), BoundingBox::of_mask(want.view()));
                assert!(b.top >= pl.top && b.bottom <= pl.top + pl.side);
                assert!(b.left >= pl.left && b.right <= pl.left + pl.side);
                // Pixels outside the mask are the background's; visible item
                // pixels (alpha >= 0.01) all changed.
                let bg = g.background(11, 5 + k as u64).unwrap();
                let img = set.images.index_axis(Axis(0), k);
                for i in 0..64 {
                    for j in 0..64 {
                        let same = (0..3).all(|ch| img[[ch, i, j]] == bg[[ch, i, j]]);
                        if !want[[i, j]] {
                            assert!(same, "pixel ({i}, {j}) of image {k} changed off the mask");
                        } else if alpha[[i - pl.top, j - pl.left]] >= 0.01 {
                            assert!(!same, "item pixel ({i}, {j}) of image {k} unchanged");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn same_seed_same_images_other_seed_different() {
        let p = pool(9);
        let g = LocalizationGenerator::new(&p, LocalizationConfig::default()).unwrap();
        let a = g.generate(3, 0, 6).unwrap();
        let b = g.generate(3, 0, 6).unwrap();
        assert_eq!(a, b);
        // Batch-independence: image 4 generated alone.
        let c = g.generate(3, 4, 1).unwrap();
        assert_eq!(a.images.slice(s![4..5, .., .., ..]), c.images);
        assert_eq!(a.placements[4], c.placements[0]);
        let d = g.generate(4, 0, 6).unwrap();
        for k in 0..6 {
            assert_ne!(
                a.images.index_axis(Axis(0), k),
                d.images.index_axis(Axis(0), k)
            );
        }
        assert!(a.images.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn invalid_configs_and_arguments_are_errors() {
        let p = pool(2);
        for cfg in [
            LocalizationConfig {
                canvas: 4,
                ..Default::default()
            },
            LocalizationConfig {
                min_side: 0,
                ..Default::default()
            },
            LocalizationConfig {
                min_side: 50,
                max_side: 40,
                ..Default::default()
            },
            LocalizationConfig {
                distractor_min_side: 15,
                ..Default::default()
            },
            LocalizationConfig {
                distractor_opacity: 1.5,
                ..Default::default()
            },
            LocalizationConfig {
                pixel_noise_std: f32::NAN,
                ..Default::default()
            },
            LocalizationConfig {
                background_contrast: 1.5,
                ..Default::default()
            },
        ] {
            assert!(LocalizationGenerator::new(&p, cfg).is_err());
        }
        // Issue 19: canvas 2^20 aborted (26 TB allocation), max_distractors
        // usize::MAX hung, distractors larger than the canvas underflowed.
        for (canvas, max_distractors, min_side) in [
            (1 << 20, 2, 28),
            (64, usize::MAX, 28),
            (64, MAX_DISTRACTORS + 1, 28),
            (10, 2, 8),
        ] {
            let cfg = LocalizationConfig {
                canvas,
                max_distractors,
                min_side,
                max_side: min_side.max(10),
                ..Default::default()
            };
            let e = LocalizationGenerator::new(&p, cfg)
                .err()
                .map(|e| e.to_string());
            assert!(
                e.is_some_and(|e| e.contains("invalid parameter")),
                "{canvas} {max_distractors}"
            );
        }
        let g = LocalizationGenerator::new(&p, LocalizationConfig::default()).unwrap();
        assert!(g.generate(0, 0, 0).is_err());
        // n · 3 · 64² beyond MAX_GENERATE_VALUES, and start + n overflowing.
        let e = g.generate(0, 0, usize::MAX / 2).unwrap_err().to_string();
        assert!(e.contains("MAX_GENERATE_VALUES"), "{e}");
        assert!(g
            .generate(0, 0, MAX_GENERATE_VALUES / (3 * 64 * 64) + 1)
            .is_err());
        assert!(g.generate(0, usize::MAX, 1).is_err());
        assert!(g.item_alpha(0, 1 << 20).is_err());
        assert!(g.item_alpha(2, 10).is_err());
        let zeros = GrayImages::new(Array3::zeros((2, 28, 28)), vec![0, 1]).unwrap();
        let gz = LocalizationGenerator::new(&zeros, LocalizationConfig::default()).unwrap();
        assert!(gz.generate(0, 0, 1).is_err());
    }
}
