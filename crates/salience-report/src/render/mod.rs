//! Rendering attribution maps as pictures: colormaps, robust
//! normalization, overlays, grids, nearest upscaling and PNG encoding.
//!
//! Everything works on [`RgbImage`], a plain 8-bit RGB raster (row-major,
//! `[r, g, b]` per pixel). A typical heatmap:
//!
//! 1. [`normalize_signed`] (maps to \[−1, 1\], 0 stays 0) or
//!    [`normalize_unsigned`] (maps to \[0, 1\]), both clipping at a
//!    percentile so a few extreme pixels do not wash out the picture;
//! 2. [`colorize`] with [`Colormap::Diverging`] (blue–white–red, for signed
//!    maps; −1 → blue, 0 → white, 1 → red) or [`Colormap::Viridis`]
//!    (perceptually uniform, for unsigned maps);
//! 3. optionally [`overlay`] (or [`overlay_weighted`]) on the input ([`gray_image`] / [`rgb_image`]),
//!    [`upscale_nearest`] so small images are visible, [`grid`] to put
//!    several side by side, and [`RgbImage::write_png`].
//!
//! [`HeatmapGrid`] puts inputs and maps in a grid a person can read: a
//! title, every tile's name above it, one colormap convention for all maps
//! (RdBu centred at 0 for signed maps, viridis for unsigned), each map's
//! value range, colour bars and a caption; [`with_caption`] says what a
//! single picture (an overlay) shows. Text is drawn with plotters in the
//! embedded DejaVu Sans font.
//!
//! [`heatmap`] does steps 1–2 in one call, choosing the colormap by the
//! sign of the map ([`MapSign`]).
//!
//! A map whose clipping scale is zero (an all-zero map, or a constant one
//! for [`normalize_unsigned`]) is not an error here: it is a legitimate
//! attribution ("nothing matters") and renders as the colormap's neutral
//! value (0). Non-finite values, empty maps and mismatched sizes are typed
//! errors.
//!
//! ```
//! use ndarray::array;
//! use salience_report::render::{grid, heatmap, gray_image, overlay, upscale_nearest, MapSign};
//! let image = array![[0.0f32, 0.5], [1.0, 0.25]];
//! let map = array![[-1.0f32, 0.0], [2.0, 0.5]];
//! let heat = heatmap(map.view(), MapSign::Signed, 100.0)?;
//! let over = overlay(&gray_image(image.view())?, &heat, 0.6)?;
//! let tiles = [gray_image(image.view())?, heat, over];
//! let g = upscale_nearest(&grid(&tiles, 3, 1, [255, 255, 255])?, 4)?;
//! assert_eq!((g.width(), g.height()), ((3 * 2 + 4) * 4, (2 + 2) * 4));
//! let bytes = g.to_png()?;
//! assert_eq!(&bytes[1..4], b"PNG");
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use ndarray::{ArrayView2, Axis};
use salience_core::validate::check_finite;
use salience_core::{Result, SalienceError};
use std::path::Path;

mod draw;
mod labeled;
pub mod plot;

pub use labeled::{
    colorbar, with_caption, Cell, ColorbarPlace, GridLayout, HeatmapGrid, Tile, TilePlace,
};

/// The largest image this module builds, in pixels (2^28, e.g.
/// 16384 × 16384; 768 MiB of RGB). Every constructor and operation checks
/// its output size against it (overflow-checked) before allocating, and
/// reports a larger one as [`SalienceError::InvalidParameter`].
pub const MAX_IMAGE_PIXELS: usize = 1 << 28;

/// An 8-bit RGB raster, row-major, 3 bytes per pixel.
///
/// ```
/// let img = salience_report::render::RgbImage::filled(3, 2, [10, 20, 30])?;
/// assert_eq!((img.width(), img.height()), (3, 2));
/// assert_eq!(img.pixel(2, 1), Some([10, 20, 30]));
/// assert_eq!(img.pixel(3, 0), None);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl RgbImage {
    /// An image of one color. Errors when a side is 0 or the image has
    /// more than [`MAX_IMAGE_PIXELS`] pixels.
    ///
    /// ```
    /// use salience_report::render::RgbImage;
    /// assert!(RgbImage::filled(0, 2, [0; 3]).is_err());
    /// assert!(RgbImage::filled(usize::MAX, 2, [0; 3]).is_err());
    /// ```
    pub fn filled(width: usize, height: usize, color: [u8; 3]) -> Result<Self> {
        check_size(width, height, "RgbImage")?;
        Ok(RgbImage {
            width,
            height,
            data: color.repeat(width * height),
        })
    }

    /// An image from its raw bytes (`width · height · 3`, row-major RGB).
    ///
    /// ```
    /// use salience_report::render::RgbImage;
    /// let img = RgbImage::from_raw(1, 2, vec![1, 2, 3, 4, 5, 6])?;
    /// assert_eq!(img.pixel(0, 1), Some([4, 5, 6]));
    /// assert!(RgbImage::from_raw(2, 2, vec![0; 3]).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        check_size(width, height, "RgbImage")?;
        // check_size bounds width · height by MAX_IMAGE_PIXELS: no overflow below.
        if data.len() != width * height * 3 {
            return Err(SalienceError::shape(
                "RgbImage raw data",
                format!("{} bytes ({width}×{height}×3)", width * height * 3),
                &[data.len()],
            ));
        }
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    ///
    /// ```
    /// assert_eq!(salience_report::render::RgbImage::filled(4, 1, [0; 3])?.width(), 4);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    ///
    /// ```
    /// assert_eq!(salience_report::render::RgbImage::filled(4, 1, [0; 3])?.height(), 1);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn height(&self) -> usize {
        self.height
    }

    /// The raw bytes, row-major RGB.
    ///
    /// ```
    /// assert_eq!(salience_report::render::RgbImage::filled(1, 1, [7, 8, 9])?.as_raw(), &[7, 8, 9]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    /// The color at column `x`, row `y` (`None` outside the image).
    ///
    /// ```
    /// let img = salience_report::render::RgbImage::filled(2, 2, [1, 1, 1])?;
    /// assert_eq!(img.pixel(1, 1), Some([1, 1, 1]));
    /// assert_eq!(img.pixel(0, 2), None);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y * self.width + x) * 3;
        let p = self.data.get(i..i + 3)?;
        Some([p[0], p[1], p[2]])
    }

    /// The raw bytes, mutable (for drawing on the image).
    pub(crate) fn raw_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Encodes the image as an 8-bit RGB PNG.
    ///
    /// ```
    /// let png = salience_report::render::RgbImage::filled(2, 2, [0, 0, 0])?.to_png()?;
    /// assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let err = |e: png::EncodingError| SalienceError::backend("PNG encoding", e);
        let (w, h) = (dim_u32(self.width)?, dim_u32(self.height)?);
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(err)?;
            writer.write_image_data(&self.data).map_err(err)?;
            writer.finish().map_err(err)?;
        }
        Ok(out)
    }

    /// Writes the image as a PNG file.
    ///
    /// ```
    /// let path = std::env::temp_dir().join("salience_render_doc.png");
    /// salience_report::render::RgbImage::filled(2, 2, [255, 0, 0])?.write_png(&path)?;
    /// assert!(std::fs::metadata(&path).is_ok());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_png()?;
        std::fs::write(path, bytes).map_err(|e| SalienceError::io("writing", path, e))
    }
}

/// An error unless `1 ≤ width, height` and `width · height ≤
/// MAX_IMAGE_PIXELS` (overflow-checked).
pub(crate) fn check_size(width: usize, height: usize, context: &str) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(SalienceError::Empty(format!(
            "{context} of size {width}×{height}"
        )));
    }
    if width
        .checked_mul(height)
        .is_none_or(|p| p > MAX_IMAGE_PIXELS)
    {
        return Err(SalienceError::invalid(
            &format!("{context} size"),
            format!("{width}×{height}"),
            &format!("at most MAX_IMAGE_PIXELS = {MAX_IMAGE_PIXELS} pixels"),
        ));
    }
    Ok(())
}

fn dim_u32(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| SalienceError::invalid("image side", v, "at most u32::MAX"))
}

/// A colormap from \[0, 1\] to RGB (values outside are clamped, NaN maps
/// to 0).
///
/// ```
/// use salience_report::render::Colormap;
/// assert_eq!(Colormap::Diverging.color(0.5), [247, 247, 247]);
/// assert_eq!(Colormap::Gray.color(1.0), [255, 255, 255]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// Perceptually uniform sequential (matplotlib's viridis, 11 stops
    /// linearly interpolated): dark purple → green → yellow.
    #[default]
    Viridis,
    /// Diverging (ColorBrewer's RdBu reversed, matplotlib's `RdBu_r`):
    /// dark blue (0) → near-white (0.5) → dark red (1).
    Diverging,
    /// Black (0) to white (1).
    Gray,
}

/// matplotlib's viridis at 0, 0.1, …, 1.
const VIRIDIS: [[u8; 3]; 11] = [
    [68, 1, 84],
    [72, 36, 117],
    [65, 68, 135],
    [53, 95, 141],
    [42, 120, 142],
    [33, 145, 140],
    [34, 168, 132],
    [68, 191, 112],
    [122, 209, 81],
    [189, 223, 38],
    [253, 231, 37],
];

/// ColorBrewer RdBu (11 classes), reversed: blue (negative) to red.
const RDBU_R: [[u8; 3]; 11] = [
    [5, 48, 97],
    [33, 102, 172],
    [67, 147, 195],
    [146, 197, 222],
    [209, 229, 240],
    [247, 247, 247],
    [253, 219, 199],
    [244, 165, 130],
    [214, 96, 77],
    [178, 24, 43],
    [103, 0, 31],
];

fn interpolate(stops: &[[u8; 3]], t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let last = stops.len().saturating_sub(1);
    let pos = t * last as f32;
    let i = (pos.floor() as usize).min(last);
    let j = (i + 1).min(last);
    let f = pos - i as f32;
    let (a, b) = match (stops.get(i), stops.get(j)) {
        (Some(a), Some(b)) => (a, b),
        _ => return [0; 3],
    };
    let mix = |x: u8, y: u8| (x as f32 + f * (y as f32 - x as f32)).round() as u8;
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}

impl Colormap {
    /// The color of `t` ∈ \[0, 1\].
    ///
    /// ```
    /// use salience_report::render::Colormap;
    /// assert_eq!(Colormap::Viridis.color(0.0), [68, 1, 84]);
    /// assert_eq!(Colormap::Viridis.color(1.0), [253, 231, 37]);
    /// assert_eq!(Colormap::Diverging.color(-3.0), [5, 48, 97]);
    /// ```
    pub fn color(&self, t: f32) -> [u8; 3] {
        match self {
            Colormap::Viridis => interpolate(&VIRIDIS, t),
            Colormap::Diverging => interpolate(&RDBU_R, t),
            Colormap::Gray => {
                let v = interpolate(&[[0; 3], [255; 3]], t);
                [v[0]; 3]
            }
        }
    }
}

/// Linear-interpolation percentile (NumPy's default) of finite values;
/// `q` ∈ \[0, 100\]. `values` must be non-empty.
fn percentile(values: &mut [f32], q: f64) -> f32 {
    values.sort_unstable_by(f32::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let h = (n - 1) as f64 * q / 100.0;
    let lo = (h.floor() as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let f = (h - lo as f64) as f32;
    // In f64: the difference of two f32 values of opposite signs can overflow f32.
    (f64::from(values[lo]) + f64::from(f) * (f64::from(values[hi]) - f64::from(values[lo]))) as f32
}

/// The clipping scale of [`normalize_signed`]: the `q`-th percentile of |v|.
fn signed_scale(map: &ArrayView2<'_, f32>, q: f64) -> f32 {
    let mut abs: Vec<f32> = map.iter().map(|v| v.abs()).collect();
    percentile(&mut abs, q)
}

/// The value range [`heatmap`] maps onto its colormap's ends for `sign`:
/// (−s, s) for signed maps, the clip percentiles for unsigned ones.
pub(crate) fn signed_range(map: ArrayView2<'_, f32>, sign: MapSign, q: f64) -> (f32, f32) {
    match sign {
        MapSign::Signed => {
            let s = signed_scale(&map, q);
            (-s, s)
        }
        MapSign::Unsigned => unsigned_range(&map, q),
    }
}

/// The clipping range of [`normalize_unsigned`]: the (100 − `q`)-th and
/// `q`-th percentiles.
fn unsigned_range(map: &ArrayView2<'_, f32>, q: f64) -> (f32, f32) {
    let mut v: Vec<f32> = map.iter().copied().collect();
    let hi = percentile(&mut v, q);
    (percentile(&mut v, 100.0 - q), hi)
}

fn check_map(map: &ArrayView2<'_, f32>, context: &str) -> Result<()> {
    let (h, w) = map.dim();
    check_size(w, h, context)?;
    check_finite(map, context)
}

fn check_percentile(q: f64) -> Result<()> {
    if q.is_nan() || q <= 0.0 || q > 100.0 {
        return Err(SalienceError::invalid(
            "percentile",
            q,
            "must be in (0, 100]",
        ));
    }
    Ok(())
}

/// Scales a signed map to \[−1, 1\]: v / s clipped, where s is the
/// `percentile`-th percentile of |v| (100 = the maximum). Zero stays zero,
/// so the diverging colormap's white means "no attribution". An all-zero
/// map (s = 0) gives zeros.
///
/// ```
/// use ndarray::array;
/// let m = array![[-2.0f32, 0.0], [1.0, 4.0]];
/// let n = salience_report::render::normalize_signed(m.view(), 100.0)?;
/// assert_eq!(n, array![[-0.5, 0.0], [0.25, 1.0]]);
/// assert!(salience_report::render::normalize_signed(m.view(), 0.0).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn normalize_signed(
    map: ArrayView2<'_, f32>,
    percentile_q: f64,
) -> Result<ndarray::Array2<f32>> {
    check_percentile(percentile_q)?;
    check_map(&map, "signed map to render")?;
    let s = signed_scale(&map, percentile_q);
    if s <= 0.0 {
        return Ok(map.mapv(|_| 0.0));
    }
    Ok(map.mapv(|v| (v / s).clamp(-1.0, 1.0)))
}

/// Scales a map to \[0, 1\]: (v − lo)/(hi − lo) clipped, where hi is the
/// `percentile`-th and lo the (100 − `percentile`)-th percentile of the
/// values. A constant map (hi = lo) gives zeros. Computed in f64, so a
/// map spanning ±[`f32::MAX`] still normalizes to finite values.
///
/// ```
/// use ndarray::array;
/// let m = array![[1.0f32, 2.0], [3.0, 5.0]];
/// let n = salience_report::render::normalize_unsigned(m.view(), 100.0)?;
/// assert_eq!(n, array![[0.0, 0.25], [0.5, 1.0]]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn normalize_unsigned(
    map: ArrayView2<'_, f32>,
    percentile_q: f64,
) -> Result<ndarray::Array2<f32>> {
    check_percentile(percentile_q)?;
    check_map(&map, "map to render")?;
    let (lo, hi) = unsigned_range(&map, percentile_q);
    // In f64: hi − lo overflows f32 for maps spanning ±f32::MAX.
    let (lo, span) = (f64::from(lo), f64::from(hi) - f64::from(lo));
    if span.is_nan() || span <= 0.0 {
        return Ok(map.mapv(|_| 0.0));
    }
    Ok(map.mapv(|x| ((f64::from(x) - lo) / span).clamp(0.0, 1.0) as f32))
}

/// Colors a map whose values are already in the colormap's domain
/// (\[0, 1\]; values outside are clamped).
///
/// ```
/// use ndarray::array;
/// use salience_report::render::{colorize, Colormap};
/// let img = colorize(array![[0.0f32, 1.0]].view(), Colormap::Gray)?;
/// assert_eq!(img.as_raw(), &[0, 0, 0, 255, 255, 255]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn colorize(map: ArrayView2<'_, f32>, colormap: Colormap) -> Result<RgbImage> {
    check_map(&map, "map to colorize")?;
    let (h, w) = map.dim();
    let data = map.iter().flat_map(|&t| colormap.color(t)).collect();
    RgbImage::from_raw(w, h, data)
}

/// Whether a map is rendered as signed (diverging colormap, 0 = white) or
/// unsigned (sequential colormap).
///
/// ```
/// use ndarray::array;
/// use salience_report::render::MapSign;
/// assert_eq!(MapSign::of(array![[0.0f32, 1.0]].view()), MapSign::Unsigned);
/// assert_eq!(MapSign::of(array![[-0.5f32, 1.0]].view()), MapSign::Signed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapSign {
    /// Values of both signs: [`normalize_signed`] + [`Colormap::Diverging`].
    Signed,
    /// Non-negative values: [`normalize_unsigned`] + [`Colormap::Viridis`].
    Unsigned,
}

impl MapSign {
    /// `Signed` when any value is negative, else `Unsigned`.
    ///
    /// ```
    /// use salience_report::render::MapSign;
    /// assert_eq!(MapSign::of(ndarray::array![[2.0f32]].view()), MapSign::Unsigned);
    /// ```
    pub fn of(map: ArrayView2<'_, f32>) -> MapSign {
        if map.iter().any(|&v| v < 0.0) {
            MapSign::Signed
        } else {
            MapSign::Unsigned
        }
    }
}

/// Normalizes (clipping at `percentile_q`) and colors a map: signed maps
/// with [`Colormap::Diverging`], unsigned ones with [`Colormap::Viridis`].
///
/// ```
/// use ndarray::array;
/// use salience_report::render::{heatmap, MapSign};
/// let img = heatmap(array![[-1.0f32, 0.0, 1.0]].view(), MapSign::Signed, 100.0)?;
/// assert_eq!(img.pixel(0, 0), Some([5, 48, 97]));
/// assert_eq!(img.pixel(1, 0), Some([247, 247, 247]));
/// assert_eq!(img.pixel(2, 0), Some([103, 0, 31]));
/// assert!(heatmap(array![[f32::NAN]].view(), MapSign::Signed, 99.0).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn heatmap(map: ArrayView2<'_, f32>, sign: MapSign, percentile_q: f64) -> Result<RgbImage> {
    match sign {
        MapSign::Signed => {
            let n = normalize_signed(map, percentile_q)?;
            colorize(n.mapv(|v| 0.5 * (v + 1.0)).view(), Colormap::Diverging)
        }
        MapSign::Unsigned => {
            let n = normalize_unsigned(map, percentile_q)?;
            colorize(n.view(), Colormap::Viridis)
        }
    }
}

/// A gray image from intensities in \[0, 1\] (clamped).
///
/// ```
/// use ndarray::array;
/// let img = salience_report::render::gray_image(array![[0.0f32, 1.0]].view())?;
/// assert_eq!(img.as_raw(), &[0, 0, 0, 255, 255, 255]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn gray_image(image: ArrayView2<'_, f32>) -> Result<RgbImage> {
    colorize(image, Colormap::Gray)
}

/// One picture per input of a batch of intensities in \[0, 1\] (clamped):
/// `[N, 1, H, W]` or `[N, H, W]` as grey images, `[N, 3, H, W]` as RGB —
/// the inputs of a run, for [`write_run`](crate::write_run)'s overlays.
///
/// Errors: another shape or channel count ([`SalienceError::ShapeMismatch`]),
/// NaN/Inf, an empty or oversized image.
///
/// ```
/// use ndarray::Array4;
/// use salience_report::render::pictures;
/// let x = Array4::<f32>::from_elem((2, 1, 3, 4), 0.5);
/// let p = pictures(x.view().into_dyn())?;
/// assert_eq!((p.len(), p[0].width(), p[0].height()), (2, 4, 3));
/// assert_eq!(p[1].pixel(0, 0), Some([128, 128, 128]));
/// assert!(pictures(Array4::<f32>::zeros((1, 2, 3, 4)).view().into_dyn()).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn pictures(batch: ndarray::ArrayViewD<'_, f32>) -> Result<Vec<RgbImage>> {
    let shape = batch.shape().to_vec();
    let bad = || SalienceError::shape("pictures", "[N, 1 | 3, H, W] or [N, H, W]", &shape);
    match shape.len() {
        3 => (batch.outer_iter())
            .map(|img| gray_image(img.into_dimensionality().map_err(|_| bad())?))
            .collect(),
        4 => (batch.outer_iter())
            .map(|img| match img.shape()[0] {
                1 => gray_image(
                    img.index_axis(Axis(0), 0)
                        .into_dimensionality()
                        .map_err(|_| bad())?,
                ),
                3 => rgb_image(img.into_dimensionality().map_err(|_| bad())?),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// An RGB image from a `[3, H, W]` array of intensities in \[0, 1\]
/// (clamped).
///
/// ```
/// use ndarray::Array3;
/// let mut a = Array3::<f32>::zeros((3, 1, 2));
/// a[[0, 0, 1]] = 1.0;
/// let img = salience_report::render::rgb_image(a.view())?;
/// assert_eq!(img.pixel(1, 0), Some([255, 0, 0]));
/// assert!(salience_report::render::rgb_image(Array3::<f32>::zeros((1, 1, 2)).view()).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn rgb_image(image: ndarray::ArrayView3<'_, f32>) -> Result<RgbImage> {
    let (c, h, w) = image.dim();
    if c != 3 {
        return Err(SalienceError::shape(
            "RGB image",
            "[3, H, W]",
            image.shape(),
        ));
    }
    check_size(w, h, "RGB image")?;
    check_finite(&image, "RGB image")?;
    let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut data = Vec::with_capacity(h * w * 3);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..3 {
                data.push(to_u8(image[[ch, y, x]]));
            }
        }
    }
    RgbImage::from_raw(w, h, data)
}

/// Blends `top` over `base`: (1 − α)·base + α·top per channel, α ∈ \[0, 1\].
/// Both images must have the same size.
///
/// ```
/// use salience_report::render::{overlay, RgbImage};
/// let base = RgbImage::filled(1, 1, [0, 0, 0])?;
/// let top = RgbImage::filled(1, 1, [200, 100, 50])?;
/// assert_eq!(overlay(&base, &top, 0.5)?.pixel(0, 0), Some([100, 50, 25]));
/// assert!(overlay(&base, &top, 1.5).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn overlay(base: &RgbImage, top: &RgbImage, alpha: f32) -> Result<RgbImage> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(SalienceError::invalid("alpha", alpha, "must be in [0, 1]"));
    }
    if (base.width, base.height) != (top.width, top.height) {
        return Err(SalienceError::shape(
            "overlay",
            format!("{}×{} (the base image)", base.width, base.height),
            &[top.width, top.height],
        ));
    }
    let data = base
        .data
        .iter()
        .zip(&top.data)
        .map(|(&b, &t)| ((1.0 - alpha) * b as f32 + alpha * t as f32).round() as u8)
        .collect();
    RgbImage::from_raw(base.width, base.height, data)
}

/// Blends `top` over `base` with a per-pixel opacity: α(x, y) =
/// `max_alpha` · `weights`\[y, x\] (weights clamped to \[0, 1\]), so a
/// heatmap shows where the map is large and the input stays visible
/// elsewhere. Pass the normalized map's magnitude as `weights`
/// ([`normalize_unsigned`], or |·| of [`normalize_signed`]).
///
/// ```
/// use ndarray::array;
/// use salience_report::render::{overlay_weighted, RgbImage};
/// let base = RgbImage::filled(2, 1, [0, 0, 0])?;
/// let top = RgbImage::filled(2, 1, [200, 200, 200])?;
/// let out = overlay_weighted(&base, &top, array![[0.0f32, 1.0]].view(), 0.5)?;
/// assert_eq!(out.pixel(0, 0), Some([0, 0, 0]));
/// assert_eq!(out.pixel(1, 0), Some([100, 100, 100]));
/// assert!(overlay_weighted(&base, &top, array![[1.0f32]].view(), 0.5).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn overlay_weighted(
    base: &RgbImage,
    top: &RgbImage,
    weights: ArrayView2<'_, f32>,
    max_alpha: f32,
) -> Result<RgbImage> {
    if !(0.0..=1.0).contains(&max_alpha) {
        return Err(SalienceError::invalid(
            "max_alpha",
            max_alpha,
            "must be in [0, 1]",
        ));
    }
    if (base.width, base.height) != (top.width, top.height) {
        return Err(SalienceError::shape(
            "overlay",
            format!("{}×{} (the base image)", base.width, base.height),
            &[top.width, top.height],
        ));
    }
    if weights.dim() != (base.height, base.width) {
        return Err(SalienceError::shape(
            "overlay weights",
            format!(
                "[{}, {}] (the image's height, width)",
                base.height, base.width
            ),
            weights.shape(),
        ));
    }
    check_finite(&weights, "overlay weights")?;
    let data = base
        .data
        .chunks_exact(3)
        .zip(top.data.chunks_exact(3))
        .zip(weights.iter())
        .flat_map(|((b, t), &w)| {
            let a = max_alpha * w.clamp(0.0, 1.0);
            let mix = |x: u8, y: u8| ((1.0 - a) * x as f32 + a * y as f32).round() as u8;
            [mix(b[0], t[0]), mix(b[1], t[1]), mix(b[2], t[2])]
        })
        .collect();
    RgbImage::from_raw(base.width, base.height, data)
}

/// Enlarges an image `factor` times by repeating pixels (no smoothing, so
/// a 28×28 map stays exact and becomes visible).
///
/// ```
/// use salience_report::render::{upscale_nearest, RgbImage};
/// let img = RgbImage::from_raw(2, 1, vec![1, 1, 1, 2, 2, 2])?;
/// let big = upscale_nearest(&img, 3)?;
/// assert_eq!((big.width(), big.height()), (6, 3));
/// assert_eq!(big.pixel(2, 2), Some([1, 1, 1]));
/// assert_eq!(big.pixel(3, 0), Some([2, 2, 2]));
/// assert!(upscale_nearest(&img, 0).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn upscale_nearest(image: &RgbImage, factor: usize) -> Result<RgbImage> {
    if factor == 0 || factor > 64 {
        return Err(SalienceError::invalid(
            "factor",
            factor,
            "must be in 1..=64",
        ));
    }
    let (w, h) = (
        image.width.saturating_mul(factor),
        image.height.saturating_mul(factor),
    );
    check_size(w, h, "upscaled image")?;
    let mut data = Vec::with_capacity(w * h * 3);
    for row in image.data.chunks_exact(image.width * 3) {
        let mut line = Vec::with_capacity(w * 3);
        for px in row.chunks_exact(3) {
            for _ in 0..factor {
                line.extend_from_slice(px);
            }
        }
        for _ in 0..factor {
            data.extend_from_slice(&line);
        }
    }
    RgbImage::from_raw(w, h, data)
}

/// Puts equally sized tiles in a grid of `columns` columns (row by row),
/// with `padding` pixels of `background` between tiles and around the
/// border. The last row may be incomplete (filled with `background`).
/// Size: (cols·w + (cols + 1)·pad) × (rows·h + (rows + 1)·pad), cols =
/// min(columns, tiles), rows = ⌈tiles / columns⌉.
///
/// ```
/// use salience_report::render::{grid, RgbImage};
/// let t = RgbImage::filled(2, 3, [0, 0, 0])?;
/// let g = grid(&[t.clone(), t.clone(), t], 2, 1, [255, 255, 255])?;
/// assert_eq!((g.width(), g.height()), (2 * 2 + 3, 2 * 3 + 3));
/// assert_eq!(g.pixel(0, 0), Some([255, 255, 255]));
/// assert_eq!(g.pixel(1, 1), Some([0, 0, 0]));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn grid(
    tiles: &[RgbImage],
    columns: usize,
    padding: usize,
    background: [u8; 3],
) -> Result<RgbImage> {
    let first = tiles
        .first()
        .ok_or_else(|| SalienceError::Empty("grid of 0 tiles".into()))?;
    if columns == 0 {
        return Err(SalienceError::invalid("columns", 0, "must be at least 1"));
    }
    let (tw, th) = (first.width, first.height);
    if let Some(t) = tiles.iter().find(|t| (t.width, t.height) != (tw, th)) {
        return Err(SalienceError::shape(
            "grid tile",
            format!("{tw}×{th} (the first tile)"),
            &[t.width, t.height],
        ));
    }
    let cols = columns.min(tiles.len());
    let rows = tiles.len().div_ceil(columns);
    // n · side + (n + 1) · padding, overflow-checked (saturating to a size
    // that check_size rejects).
    let extent = |n: usize, side: usize| {
        n.checked_mul(side)
            .zip(n.checked_add(1).and_then(|m| m.checked_mul(padding)))
            .and_then(|(a, b)| a.checked_add(b))
            .unwrap_or(usize::MAX)
    };
    let (w, h) = (extent(cols, tw), extent(rows, th));
    check_size(w, h, "grid")?;
    let mut out = RgbImage::filled(w, h, background)?;
    for (k, tile) in tiles.iter().enumerate() {
        let x0 = padding + (k % columns) * (tw + padding);
        let y0 = padding + (k / columns) * (th + padding);
        paste(&mut out, tile, x0, y0);
    }
    Ok(out)
}

/// Copies `src` into `dst` with its top-left corner at `(x0, y0)`, cut at
/// `dst`'s edges.
pub(crate) fn paste(dst: &mut RgbImage, src: &RgbImage, x0: usize, y0: usize) {
    let n = src.width.min(dst.width.saturating_sub(x0));
    for (y, row) in src.data.chunks_exact(src.width * 3).enumerate() {
        let start = ((y0 + y) * dst.width + x0) * 3;
        if let (Some(d), Some(s)) = (dst.data.get_mut(start..start + n * 3), row.get(..n * 3)) {
            d.copy_from_slice(s);
        }
    }
}
