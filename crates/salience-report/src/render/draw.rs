//! Drawing on an [`RgbImage`] (crate-internal): shapes with `plotters`'
//! bitmap backend over the image's own buffer, and text in the embedded
//! DejaVu Sans (`assets/fonts/`, Bitstream Vera licence, see
//! `LICENSE-DejaVu.txt` there) rasterized with `ab_glyph`, so no system
//! fonts are needed. Glyphs are placed on one baseline with the font's
//! advances and kerning (plotters' own `ab_glyph` text path aligns each
//! glyph by its box, which lifts periods to mid-height: "0·5").

use crate::render::RgbImage;
use ab_glyph::{point, Font, FontRef, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{Color, RGBColor};
use salience_core::{Result, SalienceError};
use std::sync::OnceLock;

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// A drawing area over an image's pixels (pixel coordinates).
pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// The embedded font, parsed once; an error if it does not parse.
fn font_ref() -> Result<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
        .ok_or_else(|| SalienceError::backend_msg("the embedded DejaVu Sans font did not load"))
}

/// A plotters drawing error as a typed error.
pub(crate) fn backend_err(e: impl std::error::Error + Send + Sync + 'static) -> SalienceError {
    SalienceError::backend("drawing", e)
}

/// Runs `f` on a drawing area over `img` (pixel coordinates, origin top
/// left).
pub(crate) fn draw_on(img: &mut RgbImage, f: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<()> {
    font_ref()?;
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

/// How a piece of text is drawn: size, color and which point of its box
/// the given position is.
#[derive(Clone, Copy)]
pub(crate) struct TextStyle {
    px: f32,
    color: [u8; 3],
    h: HPos,
    v: VPos,
}

/// Text of `px` pixels (the font size) in `color`, anchored at `(h, v)`.
pub(crate) fn font(px: f64, color: [u8; 3], h: HPos, v: VPos) -> TextStyle {
    TextStyle {
        px: px as f32,
        color,
        h,
        v,
    }
}

/// The advance of `s` (with kerning) at size `px`, in pixels.
fn advance(font: &FontRef<'static>, s: &str, px: f32) -> f32 {
    let f = font.as_scaled(px);
    let mut prev = None;
    let mut x = 0.0;
    for c in s.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            x += f.kern(p, id);
        }
        x += f.h_advance(id);
        prev = Some(id);
    }
    x
}

/// The width of `s` in pixels at size `px` (0 when the font is missing).
pub(crate) fn text_width(s: &str, px: f64) -> usize {
    font_ref().map_or(0, |f| advance(f, s, px as f32).ceil() as usize)
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

/// Draws `s` at `(x, y)` with `style`: glyphs anti-aliased (coverage as
/// opacity) on one baseline. Nothing for an empty string; pixels outside
/// the image are skipped.
pub(crate) fn text(area: &Area<'_>, s: &str, (x, y): (i64, i64), style: &TextStyle) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    let font = font_ref()?;
    let f = font.as_scaled(style.px);
    let (ascent, descent) = (f.ascent(), f.descent());
    let width = advance(font, s, style.px);
    let (x, y) = (
        x.clamp(-65_536, 65_536) as f32,
        y.clamp(-65_536, 65_536) as f32,
    );
    let left = match style.h {
        HPos::Left => x,
        HPos::Center => x - width / 2.0,
        HPos::Right => x - width,
    };
    // descent < 0: the line box spans baseline − ascent .. baseline − descent.
    let baseline = match style.v {
        VPos::Top => y + ascent,
        VPos::Center => y + (ascent + descent) / 2.0,
        VPos::Bottom => y + descent,
    };
    let color = rgb(style.color);
    let mut result = Ok(());
    let (mut caret, mut prev) = (left, None);
    for c in s.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            caret += f.kern(p, id);
        }
        prev = Some(id);
        let glyph = id.with_scale_and_position(style.px, point(caret.round(), baseline.round()));
        caret += f.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            if result.is_ok() && coverage > 0.0 {
                let px = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                result = area
                    .draw_pixel(px, &color.mix(f64::from(coverage.min(1.0))))
                    .map_err(backend_err);
            }
        });
    }
    result
}
