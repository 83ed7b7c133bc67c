//! SLIC superpixels (Achanta et al. 2012, "SLIC superpixels compared to
//! state-of-the-art superpixel methods"), the segmentation behind LIME's
//! interpretable features in Decker et al. (2024) (about 100 superpixels).
//!
//! No maintained Rust crate segments f32 tensors (the `superpixel` and
//! `simple_clustering` crates take 8-bit `image`/`palette` buffers), so the
//! algorithm is implemented here, following scikit-image's `slic` (the
//! implementation Captum and LIME users call) step by step:
//!
//! 1. the image is min–max rescaled to [0, 1] (so `compactness` does not
//!    depend on the input's range) and, for 3-channel images, converted
//!    from sRGB to CIE Lab (D65), as `convert2lab=None` does;
//! 2. cluster centres are seeded on scikit-image's regular grid
//!    (`regular_grid`: step S = round(√(H·W / n_segments)), offset ⌊S/2⌋);
//! 3. `max_iter` rounds of local k-means: each centre scans a window of
//!    ±2S pixels and claims the pixels for which
//!    `D = ‖c − c_k‖² / m² + ‖p − p_k‖² / S²` (colour c, position p,
//!    compactness m) is smallest; centres move to their pixels' means;
//! 4. connectivity is enforced as scikit-image does: components are grown
//!    by breadth-first search over 4-neighbours in raster order, capped at
//!    `max_size_factor` × the mean segment size, and components smaller than
//!    `min_size_factor` × the mean size are merged into an adjacent,
//!    already-labelled segment.
//!
//! Optional Gaussian pre-smoothing ([`SlicConfig::sigma`], default 0 as
//! scikit-image's): as scikit-image does, the colour features (Lab or raw)
//! are smoothed after the colour conversion by scipy's `gaussian_filter`
//! (kernel radius ⌊4σ + ½⌋, `reflect` border: the edge pixel repeated).
//! On small noisy images `sigma = 0` can be degenerate: the k-means labels
//! fragment into specks that the connectivity step merges into one giant
//! segment (scikit-image does the same; see [`boundary_recall`] and
//! `crates/salience-datasets/tests/slic_parity.rs`).
//!
//! Differences: no SLIC-zero, no mask; Achanta's move of the seeds to the
//! lowest-gradient pixel of their 3 × 3 neighbourhood is not done (neither
//! does scikit-image); labels start at 0 (scikit-image's `start_label=1`).
//! As in scikit-image, every centre starts with colour 0 (so the first
//! assignment is purely spatial), a centre that loses all its pixels is
//! dropped, components grow over the neighbours x + 1, x − 1, y + 1, y − 1
//! in that order, and a small component joins the last labelled neighbour
//! it touched (label 0 if none: possible only near the top-left corner, the
//! one case where an output segment can be disconnected). On the 12 shipped
//! localization images the labels equal scikit-image 0.26's exactly
//! (identical label arrays, so identical boundary recall of the item masks;
//! `crates/salience-datasets/tests/slic_parity.rs`, fixture from
//! `scripts/parity/slic_fixture.py`). Other tests: a two-colour image
//! segmented by hand, 4-connectivity and segment counts on noisy RGB
//! images.

use ndarray::{Array2, ArrayView2, ArrayViewD};
use salience_core::validate::{check_finite, check_nonempty_shape};
use salience_core::{Result, SalienceError};
use std::collections::VecDeque;

/// Which colour space SLIC clusters in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SlicColor {
    /// CIE Lab for 3-channel images (read as sRGB after the [0, 1]
    /// rescale), the raw channels otherwise (scikit-image's
    /// `convert2lab=None`).
    #[default]
    Auto,
    /// The raw (rescaled) channels, whatever their number.
    Raw,
}

/// Configuration of [`slic`]. The default is scikit-image's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlicConfig {
    /// Approximate number of superpixels (≥ 1). Default 100 (also Decker et al. (2024)).
    pub n_segments: usize,
    /// Compactness m (> 0): larger values give squarer superpixels. Default 10.
    pub compactness: f32,
    /// k-means iterations (≥ 1). Default 10.
    pub max_iter: usize,
    /// Standard deviation (pixels, ≥ 0) of the Gaussian pre-smoothing of
    /// the colour features, scikit-image's `sigma`. Default 0 (none).
    pub sigma: f32,
    /// Colour space. Default [`SlicColor::Auto`].
    pub color: SlicColor,
    /// Enforce 4-connected segments. Default true.
    pub enforce_connectivity: bool,
    /// Components smaller than this × the mean segment size are merged
    /// into a neighbour (in [0, 1]). Default 0.5.
    pub min_size_factor: f32,
    /// Components are cut at this × the mean segment size (≥ 1). Default 3.
    pub max_size_factor: f32,
}

impl Default for SlicConfig {
    fn default() -> Self {
        SlicConfig {
            n_segments: 100,
            compactness: 10.0,
            max_iter: 10,
            sigma: 0.0,
            color: SlicColor::Auto,
            enforce_connectivity: true,
            min_size_factor: 0.5,
            max_size_factor: 3.0,
        }
    }
}

impl SlicConfig {
    /// SLIC with `n_segments` superpixels and otherwise default settings.
    ///
    /// ```
    /// assert_eq!(salience_perturb::SlicConfig::with_segments(50).n_segments, 50);
    /// ```
    pub fn with_segments(n_segments: usize) -> Self {
        SlicConfig {
            n_segments,
            ..Self::default()
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.n_segments == 0 {
            return Err(SalienceError::invalid(
                "n_segments",
                0,
                "must be at least 1",
            ));
        }
        if !(self.compactness.is_finite() && self.compactness > 0.0) {
            return Err(SalienceError::invalid(
                "compactness",
                self.compactness,
                "must be finite and > 0",
            ));
        }
        if self.max_iter == 0 {
            return Err(SalienceError::invalid("max_iter", 0, "must be at least 1"));
        }
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return Err(SalienceError::invalid(
                "sigma",
                self.sigma,
                "must be finite and >= 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.min_size_factor) {
            return Err(SalienceError::invalid(
                "min_size_factor",
                self.min_size_factor,
                "must be in [0, 1]",
            ));
        }
        if !(self.max_size_factor.is_finite() && self.max_size_factor >= 1.0) {
            return Err(SalienceError::invalid(
                "max_size_factor",
                self.max_size_factor,
                "must be finite and >= 1",
            ));
        }
        Ok(())
    }
}

/// Segments one image, `[C, H, W]` or `[H, W]`, into superpixels. Returns
/// the label of every pixel, `[H, W]`, with labels `0 .. K` all used.
///
/// ```
/// use ndarray::Array3;
/// use salience_perturb::{slic, SlicConfig};
/// // A two-colour 8 × 8 image: left half dark, right half bright.
/// let img = Array3::from_shape_fn((1, 8, 8), |(_, _, x)| if x < 4 { 0.0f32 } else { 1.0 });
/// let labels = slic(img.into_dyn().view(), &SlicConfig::with_segments(4))?;
/// // No superpixel straddles the colour edge.
/// for y in 0..8 {
///     assert_ne!(labels[[y, 3]], labels[[y, 4]]);
/// }
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn slic(image: ArrayViewD<'_, f32>, config: &SlicConfig) -> Result<Array2<usize>> {
    config.check()?;
    let (c, h, w) = match *image.shape() {
        [c, h, w] => (c, h, w),
        [h, w] => (1, h, w),
        _ => {
            return Err(SalienceError::shape(
                "slic image",
                "[C, H, W] or [H, W]",
                image.shape(),
            ))
        }
    };
    check_nonempty_shape(image.shape(), "slic image")?;
    check_finite(&image, "slic image")?;
    let data: Vec<f32> = image.as_standard_layout().iter().copied().collect();
    let labels = slic_flat(&data, c, h, w, config)?;
    Array2::from_shape_vec((h, w), labels).map_err(|e| SalienceError::backend("ndarray", e))
}

/// SLIC on a flat, validated `[C, H, W]` image; labels `[H * W]`.
pub(crate) fn slic_flat(
    data: &[f32],
    c: usize,
    h: usize,
    w: usize,
    config: &SlicConfig,
) -> Result<Vec<usize>> {
    config.check()?;
    let hw = h * w;
    if data.len() != c * hw || hw == 0 {
        return Err(SalienceError::shape(
            "slic image",
            format!("[{c}, {h}, {w}]"),
            &[data.len()],
        ));
    }
    // 1. Rescale to [0, 1], then per-pixel colour features [hw, nc].
    let (lo, hi) = data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let range = (hi - lo) as f64;
    let scale = if range > 0.0 { 1.0 / range } else { 0.0 };
    let lab = c == 3 && config.color == SlicColor::Auto;
    let nc = c;
    let inv_m = 1.0 / config.compactness as f64;
    let mut feat = vec![0f64; hw * nc];
    for p in 0..hw {
        let mut px = [0f64; 3];
        for ch in 0..nc {
            let v = (data[ch * hw + p] as f64 - lo as f64) * scale;
            if lab {
                px[ch] = v;
            } else {
                feat[p * nc + ch] = v;
            }
        }
        if lab {
            let l = rgb_to_lab(px);
            feat[p * nc..(p + 1) * nc].copy_from_slice(&l);
        }
    }
    // scikit-image smooths after the colour conversion, before the
    // 1 / compactness scaling.
    if config.sigma > 0.0 {
        gaussian_smooth(&mut feat, nc, h, w, f64::from(config.sigma));
    }
    feat.iter_mut().for_each(|v| *v *= inv_m);
    // 2. Grid seeds.
    let ((sy0, sx0), (sty, stx)) = grid(h, w, config.n_segments);
    let step = sty.max(stx).max(1) as f64;
    let inv_s = 1.0 / step;
    let mut centers: Vec<Center> = Vec::new();
    let mut y = sy0;
    while y < h {
        let mut x = sx0;
        while x < w {
            // scikit-image starts every centre's colour at 0, so the first
            // assignment is purely spatial (the colour term |c_p − 0|² is the
            // same for every centre); the centre pixel's colour would not be.
            centers.push(Center {
                y: y as f64,
                x: x as f64,
                col: vec![0.0; nc],
                alive: true,
            });
            x += stx;
        }
        y += sty;
    }
    if centers.is_empty() {
        centers.push(Center {
            y: 0.0,
            x: 0.0,
            col: vec![0.0; nc],
            alive: true,
        });
    }
    let k0 = centers.len();
    // 3. Local k-means.
    let win = 2.0 * step;
    let mut labels = vec![usize::MAX; hw];
    let mut dist = vec![f64::INFINITY; hw];
    for _ in 0..config.max_iter {
        dist.fill(f64::INFINITY);
        let mut changed = false;
        for (k, ct) in centers.iter().enumerate() {
            if !ct.alive {
                continue;
            }
            let y0 = (ct.y - win).max(0.0) as usize;
            let y1 = ((ct.y + win + 1.0).max(0.0) as usize).min(h);
            let x0 = (ct.x - win).max(0.0) as usize;
            let x1 = ((ct.x + win + 1.0).max(0.0) as usize).min(w);
            for yy in y0..y1 {
                let dy = (yy as f64 - ct.y) * inv_s;
                for xx in x0..x1 {
                    let dx = (xx as f64 - ct.x) * inv_s;
                    let p = yy * w + xx;
                    let mut d = dy * dy + dx * dx;
                    for (a, b) in feat[p * nc..(p + 1) * nc].iter().zip(&ct.col) {
                        d += (a - b) * (a - b);
                    }
                    if d < dist[p] {
                        dist[p] = d;
                        if labels[p] != k {
                            labels[p] = k;
                            changed = true;
                        }
                    }
                }
            }
        }
        // Pixels no window reached (only with degenerate grids): nearest centre.
        for (p, lab) in labels.iter_mut().enumerate() {
            if *lab == usize::MAX {
                let (py, px) = ((p / w) as f64, (p % w) as f64);
                let mut best = (f64::INFINITY, 0);
                for (k, ct) in centers.iter().enumerate() {
                    let d = (py - ct.y).powi(2) + (px - ct.x).powi(2);
                    if d < best.0 {
                        best = (d, k);
                    }
                }
                *lab = best.1;
                changed = true;
            }
        }
        // Move the centres to their pixels' means.
        let mut sums = vec![(0f64, 0f64, 0usize); centers.len()];
        let mut cols = vec![0f64; centers.len() * nc];
        for p in 0..hw {
            let k = labels[p];
            sums[k].0 += (p / w) as f64;
            sums[k].1 += (p % w) as f64;
            sums[k].2 += 1;
            for ch in 0..nc {
                cols[k * nc + ch] += feat[p * nc + ch];
            }
        }
        for (k, ct) in centers.iter_mut().enumerate() {
            let cnt = sums[k].2;
            if cnt > 0 {
                let inv = 1.0 / cnt as f64;
                ct.y = sums[k].0 * inv;
                ct.x = sums[k].1 * inv;
                for ch in 0..nc {
                    ct.col[ch] = cols[k * nc + ch] * inv;
                }
            } else {
                // A centre that lost every pixel is gone for good, as in
                // scikit-image (whose 0/0 mean makes it unreachable).
                ct.alive = false;
            }
        }
        if !changed {
            break;
        }
    }
    // 4. Connectivity, or a dense relabelling.
    if config.enforce_connectivity {
        let seg = hw as f64 / k0 as f64;
        let min_size = (config.min_size_factor as f64 * seg) as usize;
        let max_size = ((config.max_size_factor as f64 * seg) as usize).max(1);
        Ok(enforce_connectivity(&labels, h, w, min_size, max_size))
    } else {
        Ok(relabel_dense(&labels))
    }
}

struct Center {
    y: f64,
    x: f64,
    col: Vec<f64>,
    alive: bool,
}

/// scikit-image's `regular_grid` for a `(1, H, W)` volume: returns the
/// (y, x) offsets and (y, x) steps of the seed grid.
fn grid(h: usize, w: usize, n: usize) -> ((usize, usize), (usize, usize)) {
    let shape = [1f64, h as f64, w as f64];
    let n = n as f64;
    // Dimensions sorted by size (stable).
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| shape[a].total_cmp(&shape[b]));
    let mut steps = [(shape.iter().product::<f64>() / n).cbrt(); 3];
    if (0..3).any(|d| shape[d] < steps[d]) {
        for dim in 0..3 {
            steps[order[dim]] = shape[order[dim]];
            let rest = &order[dim + 1..];
            if rest.is_empty() {
                break;
            }
            let space: f64 = rest.iter().map(|&d| shape[d]).product();
            let s = (space / n).powf(1.0 / rest.len() as f64);
            for &d in rest {
                steps[d] = s;
            }
            if (0..3).all(|d| shape[d] >= steps[d]) {
                break;
            }
        }
    }
    let start = |d: usize| (steps[d] / 2.0).floor().max(0.0) as usize;
    let step = |d: usize| (steps[d].round() as usize).max(1);
    ((start(1), start(2)), (step(1), step(2)))
}

/// scipy's `gaussian_filter1d` weights (`truncate = 4`): radius
/// ⌊4σ + ½⌋, `exp(−x² / 2σ²)` normalised to sum 1.
fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let r = (4.0 * sigma + 0.5) as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.into_iter().map(|v| v / s).collect()
}

/// scipy's `reflect` border (`d c b a | a b c d | d c b a`, period 2n).
fn scipy_reflect(i: isize, n: usize) -> usize {
    let n2 = 2 * n as isize;
    let m = i.rem_euclid(n2) as usize;
    if m < n {
        m
    } else {
        2 * n - 1 - m
    }
}

/// Smooths the `[H·W, nc]` features along y, then x, as scipy's
/// `gaussian_filter(…, sigma=(σ, σ, 0), mode="reflect")`.
fn gaussian_smooth(feat: &mut [f64], nc: usize, h: usize, w: usize, sigma: f64) {
    let k = gaussian_kernel(sigma);
    let mut tmp = vec![0f64; feat.len()];
    convolve_axis(feat, &mut tmp, &k, (nc, h, w), true);
    convolve_axis(&tmp, feat, &k, (nc, h, w), false);
}

/// One 1-D correlation pass of [`gaussian_smooth`] over `[H·W, nc]`
/// features, along y (`along_y`) or x, with scipy's `reflect` border.
fn convolve_axis(
    src: &[f64],
    dst: &mut [f64],
    k: &[f64],
    (nc, h, w): (usize, usize, usize),
    along_y: bool,
) {
    let r = (k.len() / 2) as isize;
    for y in 0..h {
        for x in 0..w {
            let (pos, n) = if along_y { (y, h) } else { (x, w) };
            for ch in 0..nc {
                dst[(y * w + x) * nc + ch] = k
                    .iter()
                    .enumerate()
                    .map(|(t, kv)| {
                        let q = scipy_reflect(pos as isize + t as isize - r, n);
                        let (yy, xx) = if along_y { (q, x) } else { (y, q) };
                        kv * src[(yy * w + xx) * nc + ch]
                    })
                    .sum();
            }
        }
    }
}

/// Pixels on a boundary between two labels: both pixels of every pair of
/// 4-neighbours with different labels.
fn label_boundaries<T: PartialEq>(labels: ArrayView2<'_, T>) -> Array2<bool> {
    let (h, w) = labels.dim();
    let mut b = Array2::from_elem((h, w), false);
    for y in 0..h {
        for x in 0..w {
            if y + 1 < h && labels[[y, x]] != labels[[y + 1, x]] {
                b[[y, x]] = true;
                b[[y + 1, x]] = true;
            }
            if x + 1 < w && labels[[y, x]] != labels[[y, x + 1]] {
                b[[y, x]] = true;
                b[[y, x + 1]] = true;
            }
        }
    }
    b
}

fn check_same_shape(labels: &[usize], mask: &[usize]) -> Result<()> {
    if labels != mask {
        return Err(SalienceError::shape(
            "superpixel mask",
            format!("{labels:?} (the labels' shape)"),
            mask,
        ));
    }
    if labels.iter().product::<usize>() == 0 {
        return Err(SalienceError::Empty("superpixel labels".into()));
    }
    Ok(())
}

/// Boundary recall of a superpixel segmentation on a ground-truth mask:
/// the fraction of the mask's boundary pixels (both sides of every
/// 4-neighbour pair that the mask separates) within `tolerance` pixels
/// (Chebyshev distance) of a superpixel boundary (the same definition on
/// the labels). 1 = every item edge is followed by a superpixel edge.
///
/// Errors: `labels` and `mask` of different shapes or empty; a mask with
/// no boundary (all or nothing), where recall is undefined.
///
/// ```
/// use ndarray::Array2;
/// use salience_perturb::slic::boundary_recall;
/// // Left / right halves; the mask is the left 3 columns.
/// let labels = Array2::from_shape_fn((4, 8), |(_, x)| usize::from(x >= 4));
/// let mask = Array2::from_shape_fn((4, 8), |(_, x)| x < 3);
/// assert_eq!(boundary_recall(labels.view(), mask.view(), 0)?, 0.5); // column 3 only
/// assert_eq!(boundary_recall(labels.view(), mask.view(), 1)?, 1.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn boundary_recall(
    labels: ArrayView2<'_, usize>,
    mask: ArrayView2<'_, bool>,
    tolerance: usize,
) -> Result<f64> {
    check_same_shape(labels.shape(), mask.shape())?;
    let gt = label_boundaries(mask);
    let total = gt.iter().filter(|&&g| g).count();
    if total == 0 {
        return Err(SalienceError::Empty(
            "mask boundary (the mask is all or nothing)".into(),
        ));
    }
    let seg = label_boundaries(labels);
    let (h, w) = seg.dim();
    let hit = gt
        .indexed_iter()
        .filter(|&((y, x), &g)| {
            g && (y.saturating_sub(tolerance)..=(y + tolerance).min(h - 1)).any(|yy| {
                (x.saturating_sub(tolerance)..=(x + tolerance).min(w - 1)).any(|xx| seg[[yy, xx]])
            })
        })
        .count();
    Ok(hit as f64 / total as f64)
}

/// Leakage of a superpixel segmentation across a ground-truth mask's
/// outline: `Σ_s min(|s ∩ M|, |s ∖ M|) / N` over the superpixels `s`, the
/// fraction of pixels that the best superpixel-constant approximation of
/// the mask gets wrong (1 − the achievable segmentation accuracy). 0 = no
/// superpixel straddles the outline; Neubert & Protzel's (2012)
/// undersegmentation error with the item and the background as the two
/// ground-truth segments is twice this value.
///
/// Errors: `labels` and `mask` of different shapes or empty.
///
/// ```
/// use ndarray::Array2;
/// use salience_perturb::slic::undersegmentation_error;
/// let labels = Array2::from_shape_fn((4, 8), |(_, x)| usize::from(x >= 4));
/// let mask = Array2::from_shape_fn((4, 8), |(_, x)| x < 3);
/// // Superpixel 0 holds 12 mask and 4 background pixels: 4 of 32 wrong.
/// assert_eq!(undersegmentation_error(labels.view(), mask.view())?, 0.125);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn undersegmentation_error(
    labels: ArrayView2<'_, usize>,
    mask: ArrayView2<'_, bool>,
) -> Result<f64> {
    check_same_shape(labels.shape(), mask.shape())?;
    let mut counts: std::collections::HashMap<usize, (usize, usize)> = Default::default();
    for (&l, &m) in labels.iter().zip(mask.iter()) {
        let c = counts.entry(l).or_default();
        if m {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    let wrong: usize = counts.values().map(|&(a, b)| a.min(b)).sum();
    Ok(wrong as f64 / labels.len() as f64)
}

/// sRGB in [0, 1] → CIE Lab (D65, 2°), as scikit-image's `rgb2lab`.
fn rgb_to_lab(rgb: [f64; 3]) -> [f64; 3] {
    let lin = |c: f64| {
        if c > 0.04045 {
            ((c + 0.055) / 1.055).powf(2.4)
        } else {
            c / 12.92
        }
    };
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047;
    let y = 0.212671 * r + 0.715160 * g + 0.072169 * b;
    let z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Labels renumbered `0 .. K` in order of first appearance.
fn relabel_dense(labels: &[usize]) -> Vec<usize> {
    let mut map = std::collections::HashMap::new();
    labels
        .iter()
        .map(|l| {
            let next = map.len();
            *map.entry(*l).or_insert(next)
        })
        .collect()
}

/// scikit-image's `_enforce_label_connectivity_cython` in 2-D (see the
/// module docs).
fn enforce_connectivity(
    labels: &[usize],
    h: usize,
    w: usize,
    min_size: usize,
    max_size: usize,
) -> Vec<usize> {
    const NONE: usize = usize::MAX;
    let mut out = vec![NONE; h * w];
    let mut comp: Vec<usize> = Vec::new();
    let mut queue = VecDeque::new();
    let mut next = 0usize;
    for start in 0..h * w {
        if out[start] != NONE {
            continue;
        }
        let label = labels[start];
        // A small component with no labelled neighbour joins label 0, as
        // in scikit-image (possible only near the top-left corner).
        let mut adjacent = 0;
        comp.clear();
        queue.clear();
        out[start] = next;
        comp.push(start);
        queue.push_back(start);
        'grow: while let Some(p) = queue.pop_front() {
            let (y, x) = (p / w, p % w);
            // scikit-image's neighbour order (x + 1, x − 1, y + 1, y − 1):
            // it decides which pixels a capped component takes and which
            // neighbour a small one joins (the last one seen).
            let nbrs = [
                (x + 1 < w).then(|| p + 1),
                (x > 0).then(|| p - 1),
                (y + 1 < h).then(|| p + w),
                (y > 0).then(|| p - w),
            ];
            for q in nbrs.into_iter().flatten() {
                if labels[q] == label && out[q] == NONE {
                    out[q] = next;
                    comp.push(q);
                    queue.push_back(q);
                    if comp.len() >= max_size {
                        break 'grow;
                    }
                } else if out[q] != NONE && out[q] != next {
                    adjacent = out[q];
                }
            }
        }
        if comp.len() < min_size {
            for &p in &comp {
                out[p] = adjacent;
            }
        } else {
            next += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_regular_grid() {
        // 224 × 224, 100 segments: step round(22.4) = 22, offset 11.
        assert_eq!(grid(224, 224, 100), ((11, 11), (22, 22)));
        // 8 × 8, 4 segments: step 4, offset 2.
        assert_eq!(grid(8, 8, 4), ((2, 2), (4, 4)));
    }

    #[test]
    fn gaussian_kernel_and_reflect_match_scipy() {
        // scipy.ndimage._filters._gaussian_kernel1d(1.0, 0, 4), normalised.
        let k = gaussian_kernel(1.0);
        assert_eq!(k.len(), 9);
        assert!((k[4] - 0.398_943_469_356).abs() < 1e-11);
        assert!((k[3] - 0.241_971_445_657).abs() < 1e-11);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // scipy "reflect": d c b a | a b c d | d c b a.
        let v: Vec<usize> = (-5..9).map(|i| scipy_reflect(i, 4)).collect();
        assert_eq!(v, vec![3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
        // A constant image stays constant.
        let mut f = vec![2.0; 5 * 6];
        gaussian_smooth(&mut f, 1, 5, 6, 1.5);
        assert!(f.iter().all(|v| (v - 2.0).abs() < 1e-12));
        // scipy.ndimage.gaussian_filter1d([0, 1, 2, 3], 1.0, mode="reflect")
        // (one row: the y pass is the identity).
        let mut f = vec![0.0, 1.0, 2.0, 3.0];
        gaussian_smooth(&mut f, 1, 1, 4, 1.0);
        let want = [0.426_907_12, 1.063_122_51, 1.936_877_49, 2.573_092_88];
        for (g, w) in f.iter().zip(want) {
            assert!((g - w).abs() < 1e-8, "{f:?}");
        }
    }

    #[test]
    fn lab_of_white_and_black() {
        let wl = rgb_to_lab([1.0, 1.0, 1.0]);
        assert!((wl[0] - 100.0).abs() < 1e-2 && wl[1].abs() < 1e-2 && wl[2].abs() < 1e-2);
        let bl = rgb_to_lab([0.0, 0.0, 0.0]);
        assert!(bl[0].abs() < 1e-9);
        // Pure red: L ≈ 53.24, a ≈ 80.09, b ≈ 67.20.
        let r = rgb_to_lab([1.0, 0.0, 0.0]);
        assert!((r[0] - 53.24).abs() < 0.05 && (r[1] - 80.09).abs() < 0.1);
    }

    #[test]
    fn connectivity_splits_disconnected_labels() {
        // Label 0 in two separate pieces (columns 0 and 2), label 1 between.
        let labels = vec![0, 1, 0, 0, 1, 0, 0, 1, 0];
        let out = enforce_connectivity(&labels, 3, 3, 0, 100);
        assert_eq!(out, vec![0, 1, 2, 0, 1, 2, 0, 1, 2]);
        // With a minimum size of 4, the 3-pixel pieces merge into a neighbour.
        let merged = enforce_connectivity(&labels, 3, 3, 4, 100);
        let distinct: std::collections::HashSet<_> = merged.iter().collect();
        assert!(distinct.len() < 3);
    }
}
