//! Charts as PNG: line charts (markers, optional shaded bands, optional
//! log x axis), Tukey box plots and grouped bar charts (optional error
//! bars), with a title, axis labels, "nice" ticks (1, 2 or 5 × 10^k) and a
//! legend, drawn on a [`RgbImage`] with `plotters` (bitmap backend; text
//! anti-aliased in the embedded DejaVu Sans via `ab_glyph`, so no system
//! fonts are needed). Error bars and bands can be clamped to the values
//! the quantity can take ([`ValueBounds`]).
//!
//! Series take colors from [`PALETTE`] (Tableau 10, colorblind-friendly) in
//! order, and line series also cycle through five marker shapes, so charts
//! stay readable in grayscale. The y label is written horizontally above
//! the y axis; the legend sits under the x axis, one row or more.
//!
//! Bad input is a typed error: no series or groups, an empty series, NaN or
//! infinite values (the error names the series: filter them yourself),
//! mismatched lengths, `log_x` with x ≤ 0, a zero-size (or too small)
//! image. A constant range is padded, not an error.
//!
//! ```
//! use salience_report::render::plot::{LineChart, Series};
//! let chart = LineChart {
//!     title: "Deletion AUC vs. steps".into(),
//!     x_label: "n_steps".into(),
//!     y_label: "AUC".into(),
//!     series: vec![
//!         Series::new("IG", vec![(8.0, 0.31), (16.0, 0.27), (32.0, 0.25)]),
//!         Series::new("SmoothGrad", vec![(8.0, 0.35), (16.0, 0.30), (32.0, 0.29)])
//!             .with_band(vec![(0.33, 0.37), (0.28, 0.32), (0.28, 0.30)]),
//!     ],
//!     log_x: true,
//!     ..Default::default()
//! };
//! let path = std::env::temp_dir().join("salience_plot_module_doc.png");
//! chart.write_png(&path)?;
//! assert_eq!(chart.render()?.width(), 640);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use super::draw::{self, Area};
use crate::render::RgbImage;
use plotters::element::{Circle, PathElement, Polygon, Rectangle};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{Color, RGBColor};
use salience_core::{Result, SalienceError};
use std::path::Path;

/// The qualitative palette series are drawn with, in order (Tableau 10:
/// blue, orange, red, teal, green, yellow, purple, pink, brown, gray).
///
/// ```
/// assert_eq!(salience_report::render::plot::PALETTE[0], [78, 121, 167]);
/// ```
pub const PALETTE: [[u8; 3]; 10] = [
    [78, 121, 167],
    [242, 142, 43],
    [225, 87, 89],
    [118, 183, 178],
    [89, 161, 79],
    [237, 201, 72],
    [176, 122, 161],
    [255, 157, 167],
    [156, 117, 95],
    [186, 176, 172],
];

/// The color of series (or box-plot group) `i`: [`PALETTE`], cycling.
///
/// ```
/// use salience_report::render::plot::{palette_color, PALETTE};
/// assert_eq!(palette_color(11), PALETTE[1]);
/// ```
pub fn palette_color(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
}

/// The largest image side accepted (pixels).
const MAX_SIDE: usize = 8192;
const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [40, 40, 40];
const AXIS: [u8; 3] = [90, 90, 90];
const GRID: [u8; 3] = [228, 228, 228];

/// The range a plotted quantity can take, `[min, max]` (either end
/// optional). Charts clamp what they draw around a value (error bars,
/// confidence bands) to it: a mean ± std of a score ≥ 0 must not reach below
/// 0 in the picture, a fraction's must not pass 1. The values themselves
/// are drawn as given.
///
/// ```
/// use salience_report::render::plot::ValueBounds;
/// assert_eq!(ValueBounds::NON_NEGATIVE.clamp(-0.2), 0.0);
/// assert_eq!(ValueBounds::UNIT.clamp(1.3), 1.0);
/// assert_eq!(ValueBounds::UNBOUNDED.clamp(-7.0), -7.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ValueBounds {
    /// The smallest possible value (`None`: no lower bound).
    pub min: Option<f64>,
    /// The largest possible value (`None`: no upper bound).
    pub max: Option<f64>,
}

impl ValueBounds {
    /// No bounds.
    pub const UNBOUNDED: ValueBounds = ValueBounds {
        min: None,
        max: None,
    };
    /// Values ≥ 0 (a non-negative score, a count, a time).
    pub const NON_NEGATIVE: ValueBounds = ValueBounds {
        min: Some(0.0),
        max: None,
    };
    /// Values in \[0, 1\] (a fraction, an accuracy, an AUC of a curve in
    /// \[0, 1\]).
    pub const UNIT: ValueBounds = ValueBounds {
        min: Some(0.0),
        max: Some(1.0),
    };

    /// `v` clamped into the bounds.
    ///
    /// ```
    /// use salience_report::render::plot::ValueBounds;
    /// let b = ValueBounds { min: Some(-1.0), max: Some(1.0) };
    /// assert_eq!((b.clamp(-3.0), b.clamp(0.5), b.clamp(2.0)), (-1.0, 0.5, 1.0));
    /// ```
    pub fn clamp(&self, v: f64) -> f64 {
        let v = self.min.map_or(v, |m| v.max(m));
        self.max.map_or(v, |m| v.min(m))
    }

    /// An error unless both ends are finite and `min ≤ max`.
    fn validate(&self) -> Result<()> {
        for (name, v) in [("bounds.min", self.min), ("bounds.max", self.max)] {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                return Err(SalienceError::invalid(name, v, "must be finite"));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            if lo > hi {
                return Err(SalienceError::invalid(
                    "bounds",
                    format!("[{lo}, {hi}]"),
                    "min must be ≤ max",
                ));
            }
        }
        Ok(())
    }
}

/// One line of a [`LineChart`]: (x, y) points joined in the given order,
/// with an optional shaded band (one `(lo, hi)` per point, e.g. mean ± std).
///
/// ```
/// let s = salience_report::render::plot::Series::new("IG", vec![(1.0, 0.5), (2.0, 0.4)]);
/// assert_eq!(s.points.len(), 2);
/// assert!(s.band.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The legend entry (an empty label gets no legend entry).
    pub label: String,
    /// The (x, y) points, all finite.
    pub points: Vec<(f64, f64)>,
    /// Per point (lo, hi) of a shaded band, same length as `points`.
    pub band: Option<Vec<(f64, f64)>>,
}

impl Series {
    /// A series without a band.
    ///
    /// ```
    /// let s = salience_report::render::plot::Series::new("a", vec![(0.0, 1.0)]);
    /// assert_eq!(s.label, "a");
    /// ```
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            label: label.into(),
            points,
            band: None,
        }
    }

    /// The same series with a band (one `(lo, hi)` per point).
    ///
    /// ```
    /// let s = salience_report::render::plot::Series::new("a", vec![(0.0, 1.0)]).with_band(vec![(0.9, 1.1)]);
    /// assert_eq!(s.band, Some(vec![(0.9, 1.1)]));
    /// ```
    pub fn with_band(mut self, band: Vec<(f64, f64)>) -> Self {
        self.band = Some(band);
        self
    }
}

/// A line chart of one or more [`Series`], with markers on the points
/// (left out for series too dense for them: more than one point per 8 px).
///
/// ```
/// use salience_report::render::plot::{LineChart, Series};
/// let chart = LineChart {
///     title: "t".into(),
///     series: vec![Series::new("a", vec![(0.0, 0.0), (1.0, 1.0)])],
///     ..Default::default()
/// };
/// let img = chart.render()?;
/// assert_eq!((img.width(), img.height()), (640, 420));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title, centered on top.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label above the y axis (written horizontally).
    pub y_label: String,
    /// The lines; series `i` has color [`palette_color`]`(i)`.
    pub series: Vec<Series>,
    /// Logarithmic x axis (every x must then be > 0).
    pub log_x: bool,
    /// Image width in pixels (default 640).
    pub width: usize,
    /// Image height in pixels (default 420).
    pub height: usize,
    /// The values the plotted quantity can take (e.g.
    /// [`ValueBounds::NON_NEGATIVE`] for a score ≥ 0, [`ValueBounds::UNIT`]
    /// for a fraction): every drawn band is clamped to them, so it never
    /// crosses an impossible value. Default: unbounded.
    pub bounds: ValueBounds,
}

impl Default for LineChart {
    fn default() -> Self {
        LineChart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            log_x: false,
            width: 640,
            height: 420,
            bounds: ValueBounds::UNBOUNDED,
        }
    }
}

/// Where the data lands in a rendered chart: the plot area's pixel
/// rectangle and the axis ranges it spans. For box plots and bar charts the
/// x range is `(0, n)`, category `i` centered at `i + 0.5`.
///
/// ```
/// use salience_report::render::plot::{LineChart, Series};
/// let chart = LineChart {
///     series: vec![Series::new("a", vec![(0.0, 0.0), (10.0, 1.0)])],
///     ..Default::default()
/// };
/// let area = chart.area()?;
/// assert_eq!(area.x_range, (0.0, 10.0));
/// assert_eq!(area.col(0.0), Some(area.left));
/// assert_eq!(area.row(area.y_range.0), Some(area.top + area.height - 1));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PlotArea {
    /// First pixel column of the plot area.
    pub left: usize,
    /// First pixel row of the plot area.
    pub top: usize,
    /// Width of the plot area in pixels.
    pub width: usize,
    /// Height of the plot area in pixels.
    pub height: usize,
    /// The x axis range (left edge, right edge).
    pub x_range: (f64, f64),
    /// The y axis range (bottom edge, top edge).
    pub y_range: (f64, f64),
    /// Whether the x axis is logarithmic.
    pub log_x: bool,
}

impl PlotArea {
    /// The pixel column of `x` (`None` outside the x range or not finite).
    ///
    /// ```
    /// use salience_report::render::plot::PlotArea;
    /// let a = PlotArea { left: 10, top: 0, width: 101, height: 11, x_range: (0.0, 1.0), y_range: (0.0, 1.0), log_x: false };
    /// assert_eq!(a.col(0.5), Some(60));
    /// assert_eq!(a.col(2.0), None);
    /// ```
    pub fn col(&self, x: f64) -> Option<usize> {
        let f = self.x_frac(x);
        let span = self.width.saturating_sub(1) as f64;
        in_unit(f).then(|| self.left.saturating_add((f * span).round() as usize))
    }

    /// The pixel row of `y` (`None` outside the y range or not finite).
    ///
    /// ```
    /// use salience_report::render::plot::PlotArea;
    /// let a = PlotArea { left: 0, top: 5, width: 11, height: 101, x_range: (0.0, 1.0), y_range: (0.0, 1.0), log_x: false };
    /// assert_eq!(a.row(1.0), Some(5));
    /// assert_eq!(a.row(0.0), Some(105));
    /// ```
    pub fn row(&self, y: f64) -> Option<usize> {
        let f = self.y_frac(y);
        let span = self.height.saturating_sub(1) as f64;
        in_unit(f).then(|| self.top.saturating_add(((1.0 - f) * span).round() as usize))
    }

    fn x_frac(&self, x: f64) -> f64 {
        let (a, b) = self.x_range;
        if self.log_x {
            (x.log10() - a.log10()) / (b.log10() - a.log10())
        } else {
            (x - a) / (b - a)
        }
    }

    fn y_frac(&self, y: f64) -> f64 {
        (y - self.y_range.0) / (self.y_range.1 - self.y_range.0)
    }

    /// Unclamped pixel coordinates (for drawing).
    /// Clamped far outside any image, so drawing stays finite.
    fn px(&self, x: f64, y: f64) -> (i64, i64) {
        let fx = self.x_frac(x) * (self.width as f64 - 1.0);
        let fy = (1.0 - self.y_frac(y)) * (self.height as f64 - 1.0);
        let c = |f: f64| f.round().clamp(-65_536.0, 65_536.0) as i64;
        (self.left as i64 + c(fx), self.top as i64 + c(fy))
    }

    fn y_px(&self, y: f64) -> i64 {
        self.px(self.x_range.0, y).1
    }

    fn right(&self) -> i64 {
        (self.left + self.width) as i64 - 1
    }

    fn bottom(&self) -> i64 {
        (self.top + self.height) as i64 - 1
    }
}

fn in_unit(f: f64) -> bool {
    f.is_finite() && (-1e-9..=1.0 + 1e-9).contains(&f)
}

/// Linear axis ticks: every multiple of `step` (1, 2 or 5 × 10^k) from `lo`
/// to `hi`; `[lo, hi]` is the axis range, covering the data.
///
/// ```
/// let t = salience_report::render::plot::nice_ticks(0.13, 0.92)?;
/// assert_eq!((t.lo, t.hi, t.step), (0.0, 1.0, 0.2));
/// assert_eq!(t.labels(), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// The axis' lower end (the first tick).
    pub lo: f64,
    /// The axis' upper end (the last tick).
    pub hi: f64,
    /// The distance between ticks, 1, 2 or 5 × 10^k.
    pub step: f64,
    /// The tick values, `lo`, `lo + step`, …, `hi` (3 to 10 of them).
    pub values: Vec<f64>,
}

impl Ticks {
    /// The tick labels, with as many decimals as the step needs
    /// (scientific notation for very large or small values).
    ///
    /// ```
    /// let t = salience_report::render::plot::nice_ticks(-1.0, 3.0)?;
    /// assert_eq!(t.labels().first().map(String::as_str), Some("-1"));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn labels(&self) -> Vec<String> {
        let mag = self.lo.abs().max(self.hi.abs());
        let step_exp = (self.step.log10() + 1e-9).floor() as i32;
        if mag >= 1e6 || step_exp < -5 {
            let p = ((mag.log10() + 1e-9).floor() as i32 - step_exp).clamp(0, 16) as usize;
            let sci = |v: &f64| {
                if *v == 0.0 {
                    "0".to_string()
                } else {
                    format!("{v:.p$e}")
                }
            };
            self.values.iter().map(sci).collect()
        } else {
            let d = (-step_exp).max(0) as usize;
            self.values.iter().map(|v| format!("{v:.d$}")).collect()
        }
    }
}

/// n × 10^k with one rounding (so 3 × 10^-1 is 0.3).
fn scaled(n: f64, k: i32) -> f64 {
    let v = if k >= 0 {
        n * 10f64.powi(k)
    } else {
        n / 10f64.powi(-k)
    };
    if v == 0.0 {
        0.0
    } else {
        v
    }
}

fn check_range(lo: f64, hi: f64) -> Result<(f64, f64)> {
    for (name, v) in [("lo", lo), ("hi", hi)] {
        if !v.is_finite() {
            return Err(SalienceError::invalid(name, v, "axis ends must be finite"));
        }
    }
    if lo > hi {
        return Err(SalienceError::invalid("lo", lo, "must be ≤ hi"));
    }
    // A constant (or numerically constant, or subnormal) range is padded.
    if hi - lo <= 1e-12 * lo.abs().max(hi.abs()) || hi - lo < 1e-250 {
        let pad = if lo.abs() < 1e-250 {
            1.0
        } else {
            0.1 * lo.abs()
        };
        return Ok((lo - pad, hi + pad));
    }
    Ok((lo, hi))
}

/// Nice linear ticks covering `[lo, hi]`: the smallest step of the form 1,
/// 2 or 5 × 10^k giving at most 8 ticks (at least 3 follow); the axis is
/// extended to the enclosing multiples of the step. A constant range is
/// padded (by 10 %, or by 1 around 0). Errors for non-finite ends, `lo >
/// hi` or a range too large for f64.
///
/// ```
/// let t = salience_report::render::plot::nice_ticks(3.0, 3.0)?;
/// assert!(t.lo < 3.0 && t.hi > 3.0);
/// assert!(salience_report::render::plot::nice_ticks(1.0, f64::NAN).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn nice_ticks(lo: f64, hi: f64) -> Result<Ticks> {
    let (lo, hi) = check_range(lo, hi)?;
    let span = hi - lo;
    if !span.is_finite() {
        return Err(SalienceError::invalid(
            "hi - lo",
            span,
            "axis range too large",
        ));
    }
    let k0 = (span / 7.0).log10().floor().clamp(-400.0, 400.0) as i32 - 1;
    for k in k0..k0 + 8 {
        for m in [1.0, 2.0, 5.0] {
            let step = scaled(m, k);
            let jlo = (lo / step + 1e-9).floor();
            let jhi = (hi / step - 1e-9).ceil();
            if step > 0.0 && jhi - jlo + 1.0 <= 8.0 {
                let values: Vec<f64> = (0..=(jhi - jlo) as i64)
                    .map(|i| scaled((jlo + i as f64) * m, k))
                    .collect();
                let (lo, hi) = (scaled(jlo * m, k), scaled(jhi * m, k));
                if !(lo.is_finite() && hi.is_finite()) {
                    break;
                }
                return Ok(Ticks {
                    lo,
                    hi,
                    step,
                    values,
                });
            }
        }
    }
    Err(SalienceError::invalid(
        "lo, hi",
        format!("{lo}, {hi}"),
        "no tick step found for this range",
    ))
}

/// Ticks as drawn: axis range, positions and labels.
struct AxisTicks {
    lo: f64,
    hi: f64,
    values: Vec<f64>,
    labels: Vec<String>,
}

fn linear_axis(lo: f64, hi: f64) -> Result<AxisTicks> {
    let t = nice_ticks(lo, hi)?;
    let labels = t.labels();
    Ok(AxisTicks {
        lo: t.lo,
        hi: t.hi,
        values: t.values,
        labels,
    })
}

/// Log axis over whole decades: 1, 2, 5 × 10^k ticks for up to two
/// decades, else every `e`-th decade (at most 8 ticks). `lo` must be > 0.
fn log_axis(lo: f64, hi: f64) -> Result<AxisTicks> {
    let (mut a, mut b) = (lo.log10(), hi.log10());
    if !(a.is_finite() && b.is_finite()) {
        return Err(SalienceError::invalid(
            "x",
            lo,
            "a log axis needs finite x > 0",
        ));
    }
    if b - a < 1e-9 {
        a -= 0.5;
        b += 0.5;
    }
    let ka = (a + 1e-9).floor() as i32;
    let kb = ((b - 1e-9).ceil() as i32).max(ka + 1);
    let label = |m: i32, k: i32| {
        if (-4..=5).contains(&k) {
            format!("{}", scaled(m as f64, k))
        } else {
            format!("{m}e{k}")
        }
    };
    let mut ticks: Vec<(f64, String)> = Vec::new();
    let (lo_k, hi_k);
    if kb - ka <= 2 {
        for k in ka..kb {
            for m in [1, 2, 5] {
                ticks.push((scaled(m as f64, k), label(m, k)));
            }
        }
        ticks.push((scaled(1.0, kb), label(1, kb)));
        (lo_k, hi_k) = (ka, kb);
    } else {
        let e = [1, 2, 5, 10, 20, 50, 100]
            .into_iter()
            .find(|&e| (kb + e - 1).div_euclid(e) - ka.div_euclid(e) < 9)
            .unwrap_or(200);
        (lo_k, hi_k) = (ka.div_euclid(e) * e, (kb + e - 1).div_euclid(e) * e);
        let mut k = lo_k;
        while k <= hi_k {
            ticks.push((scaled(1.0, k), label(1, k)));
            k += e;
        }
    }
    let (values, labels) = ticks.into_iter().unzip();
    let (lo, hi) = (scaled(1.0, lo_k), scaled(1.0, hi_k));
    if !(lo > 0.0 && hi.is_finite()) {
        return Err(SalienceError::invalid(
            "x",
            format!("{lo}..{hi}"),
            "log axis range outside f64",
        ));
    }
    Ok(AxisTicks {
        lo,
        hi,
        values,
        labels,
    })
}

// ---------------------------------------------------------------- drawing

/// Font size of tick labels, axis labels and legends (pixels).
const LABEL_PX: f64 = 13.0;
/// Font size of titles (pixels).
const TITLE_PX: f64 = 18.0;
/// Height of one line of label text (pixels).
const LINE_H: usize = 15;

/// The font size of text at `scale` (1: labels, 2: titles).
fn font_px(scale: usize) -> f64 {
    if scale >= 2 {
        TITLE_PX
    } else {
        LABEL_PX
    }
}

fn text_width(s: &str, scale: usize) -> usize {
    draw::text_width(s, font_px(scale))
}

/// `s` cut to at most `max_px` pixels, "…" marking a cut.
fn fit(s: &str, max_px: usize, scale: usize) -> String {
    draw::fit(s, max_px, font_px(scale))
}

/// Draws one plotters element on the canvas' area, as a typed error.
macro_rules! draw_el {
    ($c:expr, $e:expr) => {
        $c.area.draw($e).map_err(draw::backend_err)
    };
}

/// The chart's drawing surface: plotters primitives in pixel coordinates.
struct Canvas<'a, 'b> {
    area: &'b Area<'a>,
}

fn c32(v: i64) -> i32 {
    v.clamp(-65_536, 65_536) as i32
}

impl Canvas<'_, '_> {
    fn width(&self) -> i64 {
        self.area.dim_in_pixel().0 as i64
    }

    /// Fills the rectangle between two corners (inclusive, any order).
    fn rect(&self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) -> Result<()> {
        self.rect_alpha((x0, y0), (x1, y1), c, 1.0)
    }

    /// Blends `c` at opacity `alpha` over the rectangle between two corners.
    fn rect_alpha(
        &self,
        (x0, y0): (i64, i64),
        (x1, y1): (i64, i64),
        c: [u8; 3],
        alpha: f64,
    ) -> Result<()> {
        let (a, b) = (
            (c32(x0.min(x1)), c32(y0.min(y1))),
            // The bitmap backend's filled rectangles end before this corner.
            (c32(x0.max(x1) + 1), c32(y0.max(y1) + 1)),
        );
        let style = draw::rgb(c).mix(alpha).filled();
        draw_el!(self, &Rectangle::new([a, b], style))
    }

    /// Outline of the rectangle between two corners.
    fn frame(&self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) -> Result<()> {
        self.rect((x0, y0), (x1, y0), c)?;
        self.rect((x0, y1), (x1, y1), c)?;
        self.rect((x0, y0), (x0, y1), c)?;
        self.rect((x1, y0), (x1, y1), c)
    }

    /// A polyline, 2 px wide.
    fn polyline(&self, pts: &[(i64, i64)], c: [u8; 3]) -> Result<()> {
        if pts.len() < 2 {
            return Ok(());
        }
        let pts: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| (c32(x), c32(y))).collect();
        draw_el!(self, &PathElement::new(pts, draw::rgb(c).stroke_width(2)))
    }

    /// A filled polygon blended at opacity `alpha`.
    fn polygon(&self, pts: &[(i64, i64)], c: [u8; 3], alpha: f64) -> Result<()> {
        let pts: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| (c32(x), c32(y))).collect();
        draw_el!(self, &Polygon::new(pts, draw::rgb(c).mix(alpha).filled()))
    }

    /// Left-aligned text with its top at `y`.
    fn text(&self, (x, y): (i64, i64), s: &str, scale: usize, c: [u8; 3]) -> Result<()> {
        let style = draw::font(font_px(scale), c, HPos::Left, VPos::Top);
        draw::text(self.area, s, (x, y), &style)
    }

    /// Left-aligned label text, vertically centered on `y`.
    fn text_left_mid(&self, (x, y): (i64, i64), s: &str, c: [u8; 3]) -> Result<()> {
        let style = draw::font(LABEL_PX, c, HPos::Left, VPos::Center);
        draw::text(self.area, s, (x, y), &style)
    }

    /// Text centered horizontally on `cx`, its top at `y`.
    fn text_centered(&self, cx: i64, y: i64, s: &str, scale: usize, c: [u8; 3]) -> Result<()> {
        let style = draw::font(font_px(scale), c, HPos::Center, VPos::Top);
        draw::text(self.area, s, (cx, y), &style)
    }

    /// Right-aligned text, vertically centered on `y`.
    fn text_right(&self, x: i64, y: i64, s: &str, c: [u8; 3]) -> Result<()> {
        let style = draw::font(LABEL_PX, c, HPos::Right, VPos::Center);
        draw::text(self.area, s, (x, y), &style)
    }

    /// A filled marker of shape `kind % 5` (circle, square, triangle up,
    /// diamond, triangle down) centered on (x, y).
    fn marker(&self, (x, y): (i64, i64), kind: usize, c: [u8; 3]) -> Result<()> {
        let style = draw::rgb(c).filled();
        let (x, y) = (c32(x), c32(y));
        let poly = |pts: Vec<(i32, i32)>| draw_el!(self, &Polygon::new(pts, style));
        match kind % 5 {
            0 => draw_el!(self, &Circle::new((x, y), 3, style)),
            1 => draw_el!(
                self,
                &Rectangle::new([(x - 3, y - 3), (x + 3, y + 3)], style)
            ),
            2 => poly(vec![(x, y - 4), (x + 4, y + 3), (x - 4, y + 3)]),
            3 => poly(vec![(x, y - 4), (x + 4, y), (x, y + 4), (x - 4, y)]),
            _ => poly(vec![(x, y + 4), (x + 4, y - 3), (x - 4, y - 3)]),
        }
    }

    /// A ring (outlier marker): white inside, `c` outline.
    fn ring(&self, (x, y): (i64, i64), c: [u8; 3]) -> Result<()> {
        let (x, y) = (c32(x), c32(y));
        draw_el!(self, &Circle::new((x, y), 3, WHITE_RGB.filled()))?;
        draw_el!(self, &Circle::new((x, y), 3, draw::rgb(c).stroke_width(1)))
    }
}

const WHITE_RGB: RGBColor = RGBColor(255, 255, 255);

/// Renders a `width` × `height` chart: `f` draws on a white canvas.
fn paint(
    width: usize,
    height: usize,
    f: impl FnOnce(&Canvas<'_, '_>) -> Result<()>,
) -> Result<RgbImage> {
    let mut img = RgbImage::filled(width, height, WHITE)?;
    draw::draw_on(&mut img, |area| f(&Canvas { area }))?;
    Ok(img)
}

// ----------------------------------------------------------------- layout

fn check_size(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(SalienceError::Empty(format!(
            "chart image of size {width}×{height}"
        )));
    }
    for (name, v) in [("width", width), ("height", height)] {
        if v > MAX_SIDE {
            return Err(SalienceError::invalid(name, v, "must be at most 8192"));
        }
    }
    Ok(())
}

fn check_finite(v: f64, context: impl FnOnce() -> String, index: usize) -> Result<()> {
    if v.is_finite() {
        return Ok(());
    }
    Err(SalienceError::NonFinite {
        context: context(),
        index,
        value: v as f32,
    })
}

/// A legend entry: label, color, marker shape (None: a filled patch).
type Entry = (String, [u8; 3], Option<usize>);

const LEGEND_ROW: usize = 18;
/// Height of the x label line (with its gap above).
const X_LABEL_H: usize = 20;

/// Height under the plot area taken by tick marks and `rows` rows of tick
/// labels.
fn ticks_height(rows: usize) -> usize {
    8 + LINE_H * rows
}

/// Legend entries placed in rows of at most `avail` pixels: (x offset,
/// row, fitted label, color, marker) per entry.
fn legend_rows(entries: &[Entry], avail: usize) -> (Vec<(usize, usize, Entry)>, usize) {
    let mut out = Vec::new();
    let (mut x, mut row) = (0, 0);
    for (label, color, marker) in entries.iter().filter(|e| !e.0.is_empty()) {
        let label = fit(label, avail.saturating_sub(28), 1);
        let w = 28 + text_width(&label, 1);
        if x > 0 && x + w > avail {
            x = 0;
            row += 1;
        }
        out.push((x, row, (label, *color, *marker)));
        x += w + 16;
    }
    let rows = if out.is_empty() { 0 } else { row + 1 };
    (out, rows)
}

/// Everything around the plot area.
struct Decor<'a> {
    width: usize,
    height: usize,
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    /// Widest y tick label, pixels.
    y_tick_w: usize,
    /// Rows of x tick labels.
    x_tick_rows: usize,
    /// Right margin the x tick labels need.
    right: usize,
    /// Left margin the first x tick label needs.
    left_min: usize,
    legend: &'a [Entry],
}

struct Placed {
    left: usize,
    top: usize,
    pw: usize,
    ph: usize,
    title_scale: usize,
    legend: Vec<(usize, usize, Entry)>,
}

fn place(d: &Decor<'_>) -> Result<Placed> {
    check_size(d.width, d.height)?;
    let title_scale = if text_width(d.title, 2) + 16 <= d.width {
        2
    } else {
        1
    };
    let mut top = 8;
    if !d.title.is_empty() {
        top += 22 + 6;
    }
    if !d.y_label.is_empty() {
        top += LINE_H + 6;
    }
    top += 6;
    let (legend, rows) = legend_rows(d.legend, d.width.saturating_sub(16));
    let mut bottom = ticks_height(d.x_tick_rows) + 8;
    if !d.x_label.is_empty() {
        bottom += X_LABEL_H;
    }
    if rows > 0 {
        bottom += rows * LEGEND_ROW + 4;
    }
    let left = (8 + d.y_tick_w + 8).max(d.left_min);
    let right = d.right.max(12);
    let pw = d.width.saturating_sub(left + right);
    let ph = d.height.saturating_sub(top + bottom);
    if pw < 32 {
        return Err(SalienceError::invalid(
            "width",
            d.width,
            "too small for the chart's labels and margins",
        ));
    }
    if ph < 32 {
        return Err(SalienceError::invalid(
            "height",
            d.height,
            "too small for the chart's title, labels and legend",
        ));
    }
    Ok(Placed {
        left,
        top,
        pw,
        ph,
        title_scale,
        legend,
    })
}

/// Draws the title, y label, frame, y grid and y tick labels, x label and
/// legend (everything but the x ticks and the data).
fn draw_decor(
    c: &Canvas<'_, '_>,
    d: &Decor<'_>,
    p: &Placed,
    area: &PlotArea,
    y: &AxisTicks,
) -> Result<()> {
    let w = d.width as i64;
    let title = fit(d.title, d.width.saturating_sub(16), p.title_scale);
    c.text_centered(w / 2, 8, &title, p.title_scale, INK)?;
    let y_label = fit(d.y_label, d.width.saturating_sub(16), 1);
    c.text((8, area.top as i64 - LINE_H as i64 - 6), &y_label, 1, INK)?;
    for (v, label) in y.values.iter().zip(&y.labels) {
        let row = area.y_px(*v);
        c.rect((area.left as i64, row), (area.right(), row), GRID)?;
        c.rect(
            (area.left as i64 - 5, row),
            (area.left as i64 - 1, row),
            AXIS,
        )?;
        c.text_right(area.left as i64 - 8, row, label, INK)?;
    }
    let frame_bottom = area.bottom();
    let x_label_y = frame_bottom + ticks_height(d.x_tick_rows) as i64 + 4;
    if !d.x_label.is_empty() {
        let label = fit(d.x_label, area.width, 1);
        c.text_centered(
            (area.left + area.width / 2) as i64,
            x_label_y,
            &label,
            1,
            INK,
        )?;
    }
    let legend_y = x_label_y
        + if d.x_label.is_empty() {
            0
        } else {
            X_LABEL_H as i64
        };
    for (x, row, (label, color, marker)) in &p.legend {
        let (x, y) = (8 + *x as i64, legend_y + (row * LEGEND_ROW) as i64);
        let mid = y + LINE_H as i64 / 2;
        match marker {
            Some(m) => {
                c.polyline(&[(x, mid), (x + 20, mid)], *color)?;
                c.marker((x + 10, mid), *m, *color)?;
            }
            None => c.rect((x + 4, mid - 5), (x + 16, mid + 5), *color)?,
        }
        c.text_left_mid((x + 28, mid), label, INK)?;
    }
    Ok(())
}

fn draw_frame(c: &Canvas<'_, '_>, area: &PlotArea) -> Result<()> {
    c.frame(
        (area.left as i64 - 1, area.top as i64 - 1),
        (area.right() + 1, area.bottom() + 1),
        AXIS,
    )
}

fn y_tick_width(y: &AxisTicks) -> usize {
    y.labels.iter().map(|l| text_width(l, 1)).max().unwrap_or(0)
}

/// Category labels fitted to `slot` pixels each: one row if all fit, else
/// two staggered rows with twice the room.
fn category_labels(labels: &[String], slot: usize) -> (Vec<String>, usize) {
    let fits = |room: usize| labels.iter().all(|l| text_width(l, 1) + 4 <= room);
    if labels.len() < 2 || fits(slot) {
        let l = labels
            .iter()
            .map(|l| fit(l, slot.saturating_sub(4), 1))
            .collect();
        return (l, 1);
    }
    let room = (2 * slot).saturating_sub(6);
    (labels.iter().map(|l| fit(l, room, 1)).collect(), 2)
}

/// Slot width in pixels when `n` categories share the plot area; the plot
/// area's width is not known before the layout, so estimate it from the
/// y tick labels.
fn estimated_slot(width: usize, y_tick_w: usize, n: usize) -> usize {
    width.saturating_sub(16 + y_tick_w + 12) / n.max(1)
}

fn draw_category_ticks(
    c: &Canvas<'_, '_>,
    area: &PlotArea,
    labels: &[String],
    rows: usize,
) -> Result<()> {
    for (i, label) in labels.iter().enumerate() {
        let x = area.px(i as f64 + 0.5, 0.0).0;
        let y = area.bottom() + 1;
        c.rect((x, y + 1), (x, y + 4), AXIS)?;
        let row = if rows == 2 { i % 2 } else { 0 };
        // Keep the label inside the image (the outer labels' room ends
        // at the image's edges).
        let edge = x.min(c.width() - 1 - x).max(0) as usize;
        let label = fit(label, 2 * edge.saturating_sub(2), 1);
        c.text_centered(x, y + 7 + (LINE_H * row) as i64, &label, 1, INK)?;
    }
    Ok(())
}

// ------------------------------------------------------------ line chart

impl LineChart {
    fn validate(&self) -> Result<()> {
        check_size(self.width, self.height)?;
        self.bounds.validate()?;
        if self.series.is_empty() {
            return Err(SalienceError::Empty("line chart with no series".into()));
        }
        for s in &self.series {
            if s.points.is_empty() {
                return Err(SalienceError::Empty(format!(
                    "series `{}` has no points",
                    s.label
                )));
            }
            for (i, &(x, y)) in s.points.iter().enumerate() {
                let ctx = || format!("points (x, y) of series `{}`", s.label);
                check_finite(x, ctx, 2 * i)?;
                check_finite(y, ctx, 2 * i + 1)?;
                if self.log_x && x <= 0.0 {
                    return Err(SalienceError::invalid(
                        &format!("x of series `{}`", s.label),
                        x,
                        "must be > 0 with log_x",
                    ));
                }
            }
            if let Some(band) = &s.band {
                if band.len() != s.points.len() {
                    return Err(SalienceError::shape(
                        &format!("band of series `{}`", s.label),
                        format!("{} (lo, hi) pairs, one per point", s.points.len()),
                        &[band.len()],
                    ));
                }
                for (i, &(lo, hi)) in band.iter().enumerate() {
                    let ctx = || format!("band (lo, hi) of series `{}`", s.label);
                    check_finite(lo, ctx, 2 * i)?;
                    check_finite(hi, ctx, 2 * i + 1)?;
                }
            }
        }
        Ok(())
    }

    fn axes(&self) -> Result<(AxisTicks, AxisTicks)> {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let ys = self.series.iter().flat_map(|s| {
            let band = (s.band.iter().flatten())
                .flat_map(|b| [self.bounds.clamp(b.0), self.bounds.clamp(b.1)]);
            s.points.iter().map(|p| p.1).chain(band)
        });
        let (x0, x1) = min_max(xs);
        let (y0, y1) = min_max(ys);
        let x = if self.log_x {
            log_axis(x0, x1)?
        } else {
            linear_axis(x0, x1)?
        };
        Ok((x, linear_axis(y0, y1)?))
    }

    fn layout(&self) -> Result<(PlotArea, Placed, AxisTicks, AxisTicks, Vec<Entry>)> {
        self.validate()?;
        let (x, y) = self.axes()?;
        let entries: Vec<Entry> = (self.series.iter().enumerate())
            .map(|(i, s)| (s.label.clone(), palette_color(i), Some(i)))
            .collect();
        let decor = self.decor(&y, &x, &entries);
        let p = place(&decor)?;
        let area = PlotArea {
            left: p.left,
            top: p.top,
            width: p.pw,
            height: p.ph,
            x_range: (x.lo, x.hi),
            y_range: (y.lo, y.hi),
            log_x: self.log_x,
        };
        Ok((area, p, x, y, entries))
    }

    fn decor<'a>(&'a self, y: &AxisTicks, x: &AxisTicks, legend: &'a [Entry]) -> Decor<'a> {
        let half = |l: Option<&String>| l.map_or(0, |l| text_width(l, 1) / 2 + 4);
        let (left_min, right) = (half(x.labels.first()), half(x.labels.last()) + 4);
        Decor {
            width: self.width,
            height: self.height,
            title: &self.title,
            x_label: &self.x_label,
            y_label: &self.y_label,
            y_tick_w: y_tick_width(y),
            x_tick_rows: 1,
            right,
            left_min,
            legend,
        }
    }

    /// Where the data lands in [`LineChart::render`]'s image (validates
    /// like `render`).
    ///
    /// ```
    /// use salience_report::render::plot::{LineChart, Series};
    /// let chart = LineChart { series: vec![Series::new("a", vec![(1.0, 2.0), (3.0, 4.0)])], ..Default::default() };
    /// let area = chart.area()?;
    /// assert!(area.left > 0 && area.left + area.width < 640);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn area(&self) -> Result<PlotArea> {
        Ok(self.layout()?.0)
    }

    /// Draws the chart.
    ///
    /// ```
    /// use salience_report::render::plot::{LineChart, Series, PALETTE};
    /// let chart = LineChart { series: vec![Series::new("a", vec![(0.0, 1.0), (4.0, 1.0)])], ..Default::default() };
    /// let img = chart.render()?;
    /// let area = chart.area()?;
    /// let (x, y) = (area.col(2.0).unwrap(), area.row(1.0).unwrap());
    /// assert_eq!(img.pixel(x, y), Some(PALETTE[0]));
    /// assert!(LineChart::default().render().is_err()); // no series
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn render(&self) -> Result<RgbImage> {
        let (area, p, x, y, entries) = self.layout()?;
        paint(self.width, self.height, |c| {
            let decor = self.decor(&y, &x, &entries);
            for v in &x.values {
                let col = area.px(*v, y.lo).0;
                c.rect((col, area.top as i64), (col, area.bottom()), GRID)?;
            }
            draw_decor(c, &decor, &p, &area, &y)?;
            let labels: Vec<(i64, &String)> = (x.values.iter().zip(&x.labels))
                .map(|(v, l)| (area.px(*v, y.lo).0, l))
                .collect();
            let widest = labels.iter().map(|l| text_width(l.1, 1)).max().unwrap_or(0);
            let gap = labels
                .windows(2)
                .map(|w| w[1].0 - w[0].0)
                .min()
                .unwrap_or(1 << 20)
                .max(1);
            let stride = ((widest as i64 + 8 + gap - 1) / gap).max(1) as usize;
            for (i, (col, label)) in labels.iter().enumerate() {
                c.rect((*col, area.bottom() + 2), (*col, area.bottom() + 5), AXIS)?;
                if i % stride == 0 {
                    c.text_centered(*col, area.bottom() + 8, label, 1, INK)?;
                }
            }
            draw_frame(c, &area)?;
            for (i, s) in self.series.iter().enumerate() {
                if let Some(band) = &s.band {
                    let band: Vec<(f64, f64)> = band
                        .iter()
                        .map(|&(lo, hi)| (self.bounds.clamp(lo), self.bounds.clamp(hi)))
                        .collect();
                    draw_band(c, &area, &s.points, &band, palette_color(i))?;
                }
            }
            for (i, s) in self.series.iter().enumerate() {
                let pts: Vec<(i64, i64)> = s.points.iter().map(|&(x, y)| area.px(x, y)).collect();
                c.polyline(&pts, palette_color(i))?;
                // Markers only where they stay apart (≥ 8 px per point).
                if pts.len() * 8 <= area.width {
                    for &pt in &pts {
                        c.marker(pt, i, palette_color(i))?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Renders and writes the chart as a PNG file.
    ///
    /// ```
    /// use salience_report::render::plot::{LineChart, Series};
    /// let chart = LineChart { series: vec![Series::new("a", vec![(0.0, 1.0)])], ..Default::default() };
    /// chart.write_png(std::env::temp_dir().join("salience_plot_line_doc.png"))?;
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        self.render()?.write_png(path)
    }
}

fn min_max(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    })
}

/// Shades between the band's lo and hi curves (one polygon: the hi curve
/// forward, the lo curve back; a single point gets a 5 px wide patch).
fn draw_band(
    c: &Canvas<'_, '_>,
    area: &PlotArea,
    pts: &[(f64, f64)],
    band: &[(f64, f64)],
    color: [u8; 3],
) -> Result<()> {
    let cols: Vec<(i64, i64, i64)> = pts
        .iter()
        .zip(band)
        .map(|(&(x, _), &(lo, hi))| (area.px(x, lo).0, area.y_px(lo), area.y_px(hi)))
        .collect();
    if let [(x, lo, hi)] = cols[..] {
        return c.rect_alpha((x - 2, lo), (x + 2, hi), color, BAND_ALPHA);
    }
    let outline: Vec<(i64, i64)> = (cols.iter().map(|&(x, _, hi)| (x, hi)))
        .chain(cols.iter().rev().map(|&(x, lo, _)| (x, lo)))
        .collect();
    c.polygon(&outline, color, BAND_ALPHA)
}

/// Opacity of confidence bands.
const BAND_ALPHA: f64 = 0.22;

// --------------------------------------------------------------- box plot

/// One box of a [`BoxPlot`]: a label and its values.
///
/// ```
/// let g = salience_report::render::plot::BoxGroup { label: "IG".into(), values: vec![0.1, 0.2] };
/// assert_eq!(g.values.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoxGroup {
    /// The x tick label of the box.
    pub label: String,
    /// The values (finite, at least one).
    pub values: Vec<f64>,
}

/// Tukey box plots side by side: box from Q1 to Q3 (linear-interpolation
/// quartiles, NumPy's and matplotlib's default), median line, whiskers to
/// the most extreme values within 1.5 IQR of the box, the values beyond as
/// outlier dots. Group `i` is filled with [`palette_color`]`(i)`.
///
/// ```
/// use salience_report::render::plot::{BoxGroup, BoxPlot};
/// let plot = BoxPlot {
///     title: "AGG_opt weights".into(),
///     y_label: "weight".into(),
///     groups: vec![
///         BoxGroup { label: "IG".into(), values: vec![0.1, 0.2, 0.25, 0.3, 0.9] },
///         BoxGroup { label: "LIME".into(), values: vec![0.4, 0.5, 0.55] },
///     ],
///     ..Default::default()
/// };
/// plot.write_png(std::env::temp_dir().join("salience_plot_box_doc.png"))?;
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BoxPlot {
    /// Title, centered on top.
    pub title: String,
    /// Label above the y axis (written horizontally).
    pub y_label: String,
    /// The boxes, left to right.
    pub groups: Vec<BoxGroup>,
    /// Image width in pixels (default 640).
    pub width: usize,
    /// Image height in pixels (default 420).
    pub height: usize,
}

impl Default for BoxPlot {
    fn default() -> Self {
        BoxPlot {
            title: String::new(),
            y_label: String::new(),
            groups: Vec::new(),
            width: 640,
            height: 420,
        }
    }
}

/// Tukey's five numbers of one group, plus the outliers.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxStats {
    /// First quartile (linear interpolation).
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Lower whisker end: the smallest value ≥ Q1 − 1.5 IQR.
    pub whisker_lo: f64,
    /// Upper whisker end: the largest value ≤ Q3 + 1.5 IQR.
    pub whisker_hi: f64,
    /// Values outside the whiskers.
    pub outliers: Vec<f64>,
}

impl BoxStats {
    /// The statistics of `values` (finite, non-empty).
    ///
    /// ```
    /// let s = salience_report::render::plot::BoxStats::of(&[1.0, 2.0, 3.0, 4.0, 100.0])?;
    /// assert_eq!((s.q1, s.median, s.q3), (2.0, 3.0, 4.0));
    /// assert_eq!((s.whisker_lo, s.whisker_hi), (1.0, 4.0));
    /// assert_eq!(s.outliers, vec![100.0]);
    /// assert!(salience_report::render::plot::BoxStats::of(&[]).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn of(values: &[f64]) -> Result<BoxStats> {
        if values.is_empty() {
            return Err(SalienceError::Empty("box plot group of 0 values".into()));
        }
        for (i, &v) in values.iter().enumerate() {
            check_finite(v, || "box plot values".into(), i)?;
        }
        let mut v = values.to_vec();
        v.sort_unstable_by(f64::total_cmp);
        let q = |p: f64| {
            let h = (v.len() - 1) as f64 * p;
            let lo = h.floor() as usize;
            match (v.get(lo), v.get(lo + 1)) {
                (Some(&a), Some(&b)) => a + (h - lo as f64) * (b - a),
                (Some(&a), None) => a,
                _ => 0.0,
            }
        };
        let (q1, median, q3) = (q(0.25), q(0.5), q(0.75));
        let iqr = q3 - q1;
        let (fence_lo, fence_hi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
        let inside = || {
            v.iter()
                .copied()
                .filter(|&x| x >= fence_lo && x <= fence_hi)
        };
        Ok(BoxStats {
            q1,
            median,
            q3,
            whisker_lo: inside().fold(q1, f64::min),
            whisker_hi: inside().fold(q3, f64::max),
            outliers: v
                .iter()
                .copied()
                .filter(|&x| x < fence_lo || x > fence_hi)
                .collect(),
        })
    }
}

impl BoxPlot {
    fn layout(&self) -> Result<(PlotArea, Placed, AxisTicks, Categories<BoxStats>)> {
        check_size(self.width, self.height)?;
        if self.groups.is_empty() {
            return Err(SalienceError::Empty("box plot with no groups".into()));
        }
        let stats = (self.groups.iter())
            .map(|g| {
                BoxStats::of(&g.values).map_err(|e| match e {
                    SalienceError::NonFinite { index, value, .. } => SalienceError::NonFinite {
                        context: format!("values of box plot group `{}`", g.label),
                        index,
                        value,
                    },
                    SalienceError::Empty(_) => {
                        SalienceError::Empty(format!("box plot group `{}` has no values", g.label))
                    }
                    e => e,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (lo, hi) = min_max(self.groups.iter().flat_map(|g| g.values.iter().copied()));
        let y = linear_axis(lo, hi)?;
        let names: Vec<String> = self.groups.iter().map(|g| g.label.clone()).collect();
        let slot = estimated_slot(self.width, y_tick_width(&y), names.len());
        let (labels, rows) = category_labels(&names, slot);
        let p = place(&self.decor(&y, rows))?;
        let area = category_area(&p, self.groups.len(), &y);
        Ok((area, p, y, (stats, labels, rows)))
    }

    fn decor(&self, y: &AxisTicks, rows: usize) -> Decor<'_> {
        Decor {
            width: self.width,
            height: self.height,
            title: &self.title,
            x_label: "",
            y_label: &self.y_label,
            y_tick_w: y_tick_width(y),
            x_tick_rows: rows,
            right: 12,
            left_min: 0,
            legend: &[],
        }
    }

    /// Where the data lands in [`BoxPlot::render`]'s image: group `i` is
    /// centered at x = `i + 0.5`.
    ///
    /// ```
    /// use salience_report::render::plot::{BoxGroup, BoxPlot};
    /// let plot = BoxPlot { groups: vec![BoxGroup { label: "a".into(), values: vec![1.0, 2.0] }], ..Default::default() };
    /// assert_eq!(plot.area()?.x_range, (0.0, 1.0));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn area(&self) -> Result<PlotArea> {
        Ok(self.layout()?.0)
    }

    /// Draws the box plot.
    ///
    /// ```
    /// use salience_report::render::plot::{BoxGroup, BoxPlot};
    /// let plot = BoxPlot { groups: vec![BoxGroup { label: "a".into(), values: vec![1.0, 2.0, 3.0] }], ..Default::default() };
    /// let img = plot.render()?;
    /// let area = plot.area()?;
    /// // The median line is drawn in near-black across the box's center.
    /// assert_eq!(img.pixel(area.col(0.5).unwrap(), area.row(2.0).unwrap()), Some([20, 20, 20]));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn render(&self) -> Result<RgbImage> {
        let (area, p, y, (stats, labels, rows)) = self.layout()?;
        paint(self.width, self.height, |c| {
            draw_decor(c, &self.decor(&y, rows), &p, &area, &y)?;
            draw_category_ticks(c, &area, &labels, rows)?;
            draw_frame(c, &area)?;
            let slot = area.width as f64 / stats.len() as f64;
            let half = ((0.3 * slot).min(40.0).round() as i64).max(1);
            for (i, s) in stats.iter().enumerate() {
                let color = palette_color(i);
                let x = area.px(i as f64 + 0.5, 0.0).0;
                let (q1, q3, med) = (area.y_px(s.q1), area.y_px(s.q3), area.y_px(s.median));
                let (wl, wh) = (area.y_px(s.whisker_lo), area.y_px(s.whisker_hi));
                c.rect((x, q1), (x, wl), AXIS)?;
                c.rect((x, q3), (x, wh), AXIS)?;
                c.rect((x - half / 2, wl), (x + half / 2, wl), AXIS)?;
                c.rect((x - half / 2, wh), (x + half / 2, wh), AXIS)?;
                c.rect_alpha((x - half, q3), (x + half, q1), color, 0.45)?;
                c.frame((x - half, q3), (x + half, q1), color)?;
                c.rect((x - half, med), (x + half, med + 1), [20, 20, 20])?;
                for &o in &s.outliers {
                    c.ring((x, area.y_px(o)), color)?;
                }
            }
            Ok(())
        })
    }

    /// Renders and writes the box plot as a PNG file.
    ///
    /// ```
    /// use salience_report::render::plot::{BoxGroup, BoxPlot};
    /// let plot = BoxPlot { groups: vec![BoxGroup { label: "a".into(), values: vec![1.0] }], ..Default::default() };
    /// plot.write_png(std::env::temp_dir().join("salience_plot_box_doc2.png"))?;
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        self.render()?.write_png(path)
    }
}

/// Per-category data, fitted x tick labels and their number of rows.
type Categories<T> = (Vec<T>, Vec<String>, usize);

fn category_area(p: &Placed, n: usize, y: &AxisTicks) -> PlotArea {
    PlotArea {
        left: p.left,
        top: p.top,
        width: p.pw,
        height: p.ph,
        x_range: (0.0, n as f64),
        y_range: (y.lo, y.hi),
        log_x: false,
    }
}

// -------------------------------------------------------------- bar chart

/// One series of a [`BarChart`]: one value per category and optional
/// symmetric error bars (± `err`, e.g. a standard deviation).
///
/// ```
/// let s = salience_report::render::plot::BarSeries { label: "IG".into(), values: vec![0.3, 0.5], err: None };
/// assert_eq!(s.values.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarSeries {
    /// The legend entry (an empty label gets no legend entry).
    pub label: String,
    /// One finite value per category.
    pub values: Vec<f64>,
    /// Optional error-bar half lengths (finite, ≥ 0), one per category.
    pub err: Option<Vec<f64>>,
}

/// The name the task brief used for [`BarSeries`].
pub type Series2 = BarSeries;

/// Grouped bars: for each category, one bar per series side by side (bars
/// start at 0), series `i` in [`palette_color`]`(i)`, with optional error
/// bars and a legend.
///
/// ```
/// use salience_report::render::plot::{BarChart, BarSeries};
/// let chart = BarChart {
///     title: "Faithfulness".into(),
///     y_label: "FCOR".into(),
///     categories: vec!["IG".into(), "LIME".into(), "AGG_opt".into()],
///     series: vec![
///         BarSeries { label: "m_eval = 200".into(), values: vec![0.3, 0.2, 0.4], err: Some(vec![0.05, 0.04, 0.02]) },
///         BarSeries { label: "m_eval = 50".into(), values: vec![0.28, 0.22, 0.37], err: None },
///     ],
///     ..Default::default()
/// };
/// chart.write_png(std::env::temp_dir().join("salience_plot_bar_doc.png"))?;
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title, centered on top.
    pub title: String,
    /// Label above the y axis (written horizontally).
    pub y_label: String,
    /// The categories (x tick labels), left to right.
    pub categories: Vec<String>,
    /// The series; each has one value per category.
    pub series: Vec<BarSeries>,
    /// Image width in pixels (default 640).
    pub width: usize,
    /// Image height in pixels (default 420).
    pub height: usize,
    /// The values the plotted quantity can take (e.g.
    /// [`ValueBounds::NON_NEGATIVE`] for a score ≥ 0, [`ValueBounds::UNIT`]
    /// for a fraction): every drawn error bar is clamped to them, so it never
    /// crosses an impossible value. Default: unbounded.
    pub bounds: ValueBounds,
}

impl Default for BarChart {
    fn default() -> Self {
        BarChart {
            title: String::new(),
            y_label: String::new(),
            categories: Vec::new(),
            series: Vec::new(),
            width: 640,
            height: 420,
            bounds: ValueBounds::UNBOUNDED,
        }
    }
}

impl BarChart {
    fn validate(&self) -> Result<()> {
        check_size(self.width, self.height)?;
        self.bounds.validate()?;
        if self.categories.is_empty() {
            return Err(SalienceError::Empty("bar chart with no categories".into()));
        }
        if self.series.is_empty() {
            return Err(SalienceError::Empty("bar chart with no series".into()));
        }
        let n = self.categories.len();
        for s in &self.series {
            if s.values.len() != n {
                return Err(SalienceError::shape(
                    &format!("values of bar series `{}`", s.label),
                    format!("{n} values, one per category"),
                    &[s.values.len()],
                ));
            }
            for (i, &v) in s.values.iter().enumerate() {
                check_finite(v, || format!("values of bar series `{}`", s.label), i)?;
            }
            if let Some(err) = &s.err {
                if err.len() != n {
                    return Err(SalienceError::shape(
                        &format!("err of bar series `{}`", s.label),
                        format!("{n} error bars, one per category"),
                        &[err.len()],
                    ));
                }
                for (i, &e) in err.iter().enumerate() {
                    check_finite(e, || format!("err of bar series `{}`", s.label), i)?;
                    if e < 0.0 {
                        return Err(SalienceError::invalid(
                            &format!("err[{i}] of bar series `{}`", s.label),
                            e,
                            "error bars must be ≥ 0",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<Entry> {
        (self.series.iter().enumerate())
            .map(|(i, s)| (s.label.clone(), palette_color(i), None))
            .collect()
    }

    fn layout(
        &self,
        entries: &[Entry],
    ) -> Result<(PlotArea, Placed, AxisTicks, Vec<String>, usize)> {
        self.validate()?;
        let ends = self.series.iter().flat_map(|s| {
            let errs = s.err.clone().unwrap_or_else(|| vec![0.0; s.values.len()]);
            s.values
                .iter()
                .zip(errs)
                .flat_map(|(&v, e)| {
                    let (lo, hi) = self.error_bar(v, e);
                    [v, lo, hi]
                })
                .collect::<Vec<_>>()
        });
        let (lo, hi) = min_max(ends.chain([0.0]));
        let y = linear_axis(lo, hi)?;
        let slot = estimated_slot(self.width, y_tick_width(&y), self.categories.len());
        let (labels, rows) = category_labels(&self.categories, slot);
        let p = place(&self.decor(&y, rows, entries))?;
        let area = category_area(&p, self.categories.len(), &y);
        Ok((area, p, y, labels, rows))
    }

    fn decor<'a>(&'a self, y: &AxisTicks, rows: usize, legend: &'a [Entry]) -> Decor<'a> {
        Decor {
            width: self.width,
            height: self.height,
            title: &self.title,
            x_label: "",
            y_label: &self.y_label,
            y_tick_w: y_tick_width(y),
            x_tick_rows: rows,
            right: 12,
            left_min: 0,
            legend,
        }
    }

    /// Where the data lands in [`BarChart::render`]'s image: category `i`
    /// is centered at x = `i + 0.5`; the y range always contains 0.
    ///
    /// ```
    /// use salience_report::render::plot::{BarChart, BarSeries};
    /// let chart = BarChart {
    ///     categories: vec!["a".into()],
    ///     series: vec![BarSeries { label: "s".into(), values: vec![3.0], err: None }],
    ///     ..Default::default()
    /// };
    /// assert!(chart.area()?.y_range.0 <= 0.0);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn area(&self) -> Result<PlotArea> {
        Ok(self.layout(&self.entries())?.0)
    }

    /// Draws the bar chart.
    ///
    /// ```
    /// use salience_report::render::plot::{BarChart, BarSeries, PALETTE};
    /// let chart = BarChart {
    ///     categories: vec!["a".into()],
    ///     series: vec![BarSeries { label: "s".into(), values: vec![3.0], err: None }],
    ///     ..Default::default()
    /// };
    /// let (img, area) = (chart.render()?, chart.area()?);
    /// assert_eq!(img.pixel(area.col(0.5).unwrap(), area.row(1.5).unwrap()), Some(PALETTE[0]));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn render(&self) -> Result<RgbImage> {
        let entries = self.entries();
        let (area, p, y, labels, rows) = self.layout(&entries)?;
        paint(self.width, self.height, |c| {
            draw_decor(c, &self.decor(&y, rows, &entries), &p, &area, &y)?;
            draw_category_ticks(c, &area, &labels, rows)?;
            draw_frame(c, &area)?;
            let slot = area.width as f64 / self.categories.len() as f64;
            let bar = 0.8 * slot / self.series.len() as f64;
            let zero = area.y_px(0.0);
            for (j, s) in self.series.iter().enumerate() {
                for (i, &v) in s.values.iter().enumerate() {
                    let x0 = area.left as f64 + i as f64 * slot + 0.1 * slot + j as f64 * bar;
                    let (a, b) = (x0.round() as i64, (x0 + bar).round() as i64 - 1);
                    let b = if bar >= 3.0 { b - 1 } else { b }.max(a);
                    c.rect((a, zero), (b, area.y_px(v)), palette_color(j))?;
                    if let Some(e) = s.err.as_ref().and_then(|e| e.get(i)) {
                        let mid = (a + b) / 2;
                        let (lo, hi) = self.error_bar(v, *e);
                        let (lo, hi) = (area.y_px(lo), area.y_px(hi));
                        let cap = ((b - a) / 4).max(1);
                        c.rect((mid, lo), (mid, hi), INK)?;
                        c.rect((mid - cap, lo), (mid + cap, lo), INK)?;
                        c.rect((mid - cap, hi), (mid + cap, hi), INK)?;
                    }
                }
            }
            c.rect((area.left as i64, zero), (area.right(), zero), AXIS)
        })
    }

    /// The drawn ends of the error bar `v ± e`, clamped to
    /// [`BarChart::bounds`].
    fn error_bar(&self, v: f64, e: f64) -> (f64, f64) {
        (self.bounds.clamp(v - e), self.bounds.clamp(v + e))
    }

    /// Renders and writes the bar chart as a PNG file.
    ///
    /// ```
    /// use salience_report::render::plot::{BarChart, BarSeries};
    /// let chart = BarChart {
    ///     categories: vec!["a".into()],
    ///     series: vec![BarSeries { label: "s".into(), values: vec![3.0], err: None }],
    ///     ..Default::default()
    /// };
    /// chart.write_png(std::env::temp_dir().join("salience_plot_bar_doc2.png"))?;
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        self.render()?.write_png(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_one_decade_has_1_2_5_ticks() {
        let t = log_axis(10.0, 100.0).unwrap();
        assert_eq!(t.values, vec![10.0, 20.0, 50.0, 100.0]);
        assert_eq!(t.labels, vec!["10", "20", "50", "100"]);
        let t = log_axis(0.001, 0.01).unwrap();
        assert_eq!(t.labels, vec!["0.001", "0.002", "0.005", "0.01"]);
    }

    #[test]
    fn log_axis_many_decades_steps_decades() {
        let t = log_axis(1e-8, 1e8).unwrap();
        assert!(t.values.len() <= 9 && t.values.len() >= 3);
        assert_eq!((t.lo, t.hi), (1e-8, 1e8));
        assert!(t.labels.contains(&"1e-8".to_string()));
    }

    #[test]
    fn the_embedded_font_has_the_symbols_charts_use() {
        // font8x8 is gone: DejaVu Sans has Greek, ±, ≥ and the minus sign.
        for s in ["A", "±", "σ", "≥", "\u{2212}", "…"] {
            assert!(text_width(s, 1) > 0, "{s}");
        }
        assert_eq!(text_width("", 1), 0);
        // Titles are larger than labels.
        assert!(text_width("Title", 2) > text_width("Title", 1));
    }

    #[test]
    fn fit_truncates_with_an_ellipsis() {
        let w = text_width("abcd…", 1);
        assert_eq!(fit("abcdefgh", w, 1), "abcd…");
        assert_eq!(fit("abc", w, 1), "abc");
        assert_eq!(fit("abcdefgh", 0, 1), "");
    }
}
