//! Drawing on an [`RgbImage`] with `plotters` (crate-internal): the bitmap
//! backend over the image's own buffer, and text in the embedded DejaVu
//! Sans (`assets/fonts/`, Bitstream Vera licence, see
//! `LICENSE-DejaVu.txt` there), registered once with plotters' `ab_glyph`
//! font loader, so no system fonts are needed.

use crate::error::{Result, SalienceError};
use crate::render::RgbImage;
use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, IntoFont, RGBColor, TextStyle};
use std::sync::OnceLock;

/// The family name the embedded font is registered under.
const FAMILY: &str = "salience-dejavu-sans";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// A drawing area over an image's pixels (pixel coordinates).
pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers the embedded font (once); an error if it does not parse.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(SalienceError::Backend(
            "the embedded DejaVu Sans font did not load".into(),
        ))
    }
}

/// A plotters drawing error as a typed error.
pub(crate) fn backend_err(e: impl std::fmt::Display) -> SalienceError {
    SalienceError::Backend(format!("drawing: {e}"))
}

/// Runs `f` on a drawing area over `img` (pixel coordinates, origin top
/// left).
pub(crate) fn draw_on(img: &mut RgbImage, f: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<()> {
    ensure_font()?;
    let (w, h) = (side(img.width())?, side(img.height())?);
    let backend =
        BitMapBackend::with_buffer_and_format(img.raw_mut(), (w, h)).map_err(backend_err)?;
    let area = backend.into_drawing_area();
    f(&area)?;
    area.present().map_err(backend_err)
}

fn side(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| SalienceError::invalid("image side", v, "at most u32::MAX"))
}

/// A plotters color.
pub(crate) fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Text of `px` pixels (the font size) in `color`, anchored at `(h, v)`.
pub(crate) fn font(px: f64, color: [u8; 3], h: HPos, v: VPos) -> TextStyle<'static> {
    (FAMILY, px)
        .into_font()
        .color(&rgb(color))
        .pos(Pos::new(h, v))
}

/// The width of `s` in pixels at size `px` (0 when the font is missing).
pub(crate) fn text_width(s: &str, px: f64) -> usize {
    if s.is_empty() || ensure_font().is_err() {
        return 0;
    }
    (FAMILY, px)
        .into_font()
        .box_size(s)
        .map_or(0, |(w, _)| w as usize)
}

/// `s` cut to at most `max_px` pixels at size `px`, "…" marking a cut.
pub(crate) fn fit(s: &str, max_px: usize, px: f64) -> String {
    if text_width(s, px) <= max_px {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    // The longest prefix that fits with the ellipsis (binary search).
    let (mut lo, mut hi) = (0, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let cand: String = chars.iter().take(mid).chain(['…'].iter()).collect();
        if text_width(&cand, px) <= max_px {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if lo == 0 {
        return String::new();
    }
    chars.iter().take(lo).chain(['…'].iter()).collect()
}

/// Draws `s` at `(x, y)` with `style` (nothing for an empty string).
pub(crate) fn text(
    area: &Area<'_>,
    s: &str,
    (x, y): (i64, i64),
    style: &TextStyle<'_>,
) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    let c = |v: i64| v.clamp(-65_536, 65_536) as i32;
    area.draw_text(s, style, (c(x), c(y))).map_err(backend_err)
}
