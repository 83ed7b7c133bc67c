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
//! Differences: no Gaussian pre-smoothing (`sigma = 0`, scikit-image's
//! default), no SLIC-zero, no mask; Achanta's move of the seeds to the
//! lowest-gradient pixel of their 3 × 3 neighbourhood is not done (neither
//! does scikit-image); labels start at 0 (scikit-image's `start_label=1`).
//! As in scikit-image, every centre starts with colour 0 (so the first
//! assignment is purely spatial), a centre that loses all its pixels is
//! dropped, components grow over the neighbours x + 1, x − 1, y + 1, y − 1
//! in that order, and a small component joins the last labelled neighbour
//! it touched (label 0 if none: possible only near the top-left corner, the
//! one case where an output segment can be disconnected). On the shipped
//! localization images the labels equal scikit-image 0.26's exactly
//! (`crates/salience-data/tests/slic_parity.rs`).

use ndarray::{Array2, ArrayViewD};
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
                feat[p * nc + ch] = v * inv_m;
            }
        }
        if lab {
            let l = rgb_to_lab(px);
            for ch in 0..3 {
                feat[p * nc + ch] = l[ch] * inv_m;
            }
        }
    }
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
