//! Heatmap grids a person can read (re-exported from [`crate::render`]):
//! a title, a label over every tile (the method's name), one colormap
//! convention for every map (diverging RdBu centred at 0 for signed maps,
//! sequential viridis for unsigned ones, see [`MapSign`]), each map's value
//! range under it, a colour bar per colormap used, and a caption.

use super::draw;
use crate::render::{
    check_size, heatmap, signed_range, upscale_nearest, Colormap, MapSign, RgbImage,
};
use ndarray::Array2;
use plotters::style::text_anchor::{HPos, VPos};
use salience_core::{Result, SalienceError};
use std::path::Path;

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [40, 40, 40];
const GAP: usize = 8;
const TITLE_PX: f64 = 18.0;
const LABEL_PX: f64 = 13.0;
const SMALL_PX: f64 = 11.0;
const TITLE_H: usize = 28;
const LABEL_H: usize = 18;
const RANGE_H: usize = 15;
const BAR_H: usize = 14;
const CAPTION_LINE: usize = 17;
/// Colour bar block: its label line, the bar, the tick labels, a gap.
const BAR_BLOCK_H: usize = LABEL_H + BAR_H + RANGE_H + GAP;
/// Widest tile label column before labels are cut.
const MAX_LABEL_W: usize = 180;

/// What a grid cell shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Tile {
    /// A picture shown as it is (the input, a mask): same size as the maps.
    Image(RgbImage),
    /// An attribution map `[H, W]`, colored by the grid's convention and
    /// normalized on its own (clipped at the grid's percentile).
    Map(Array2<f32>),
    /// An empty cell.
    Blank,
}

/// A labelled grid cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Drawn above the tile (the method's name); may be empty.
    pub label: String,
    /// The content.
    pub tile: Tile,
}

impl Cell {
    /// A picture cell.
    ///
    /// ```
    /// use salience_report::render::{Cell, RgbImage};
    /// let c = Cell::image("input", RgbImage::filled(2, 2, [0; 3])?);
    /// assert_eq!(c.label, "input");
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn image(label: impl Into<String>, image: RgbImage) -> Cell {
        Cell {
            label: label.into(),
            tile: Tile::Image(image),
        }
    }

    /// An attribution-map cell.
    ///
    /// ```
    /// let c = salience_report::render::Cell::map("IG", ndarray::Array2::zeros((2, 2)));
    /// assert_eq!(c.label, "IG");
    /// ```
    pub fn map(label: impl Into<String>, map: Array2<f32>) -> Cell {
        Cell {
            label: label.into(),
            tile: Tile::Map(map),
        }
    }

    /// An empty cell.
    ///
    /// ```
    /// assert!(salience_report::render::Cell::blank().label.is_empty());
    /// ```
    pub fn blank() -> Cell {
        Cell {
            label: String::new(),
            tile: Tile::Blank,
        }
    }
}

/// A grid of labelled tiles with a title, row labels, colour bars and a
/// caption. Rows may be ragged (short rows end in blanks). Every map is
/// drawn by [`heatmap`] with [`MapSign::of`] (RdBu centred at 0 when it has
/// a negative value, viridis otherwise), clipped at its own `percentile`;
/// the clip range is printed under the tile, and the colour bars show the
/// colormaps from end to end with the matching relative labels.
///
/// ```
/// use ndarray::array;
/// use salience_report::render::{Cell, HeatmapGrid, RgbImage};
/// let g = HeatmapGrid {
///     title: "Image 0 (class 3)".into(),
///     rows: vec![vec![
///         Cell::image("input", RgbImage::filled(2, 2, [90; 3])?),
///         Cell::map("Saliency", array![[0.0f32, 1.0], [2.0, 3.0]]),
///         Cell::map("IG", array![[-1.0f32, 1.0], [0.5, 0.0]]),
///     ]],
///     scale: 20,
///     caption: "Each map clipped at its 99th percentile.".into(),
///     ..Default::default()
/// };
/// let img = g.render()?;
/// assert_eq!((img.width(), img.height()), (g.layout()?.width, g.layout()?.height));
/// assert_eq!(g.layout()?.colorbars.len(), 2); // one diverging, one sequential
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapGrid {
    /// Drawn on top; may be empty.
    pub title: String,
    /// One label per row drawn left of it (empty: no label column).
    pub row_labels: Vec<String>,
    /// The cells, row by row.
    pub rows: Vec<Vec<Cell>>,
    /// Text under the colour bars, wrapped to the grid's width.
    pub caption: String,
    /// Nearest-neighbour upscaling of every tile (1..=64; default 1).
    pub scale: usize,
    /// Clipping percentile of the maps, in (0, 100] (default 99).
    pub percentile: f64,
}

impl Default for HeatmapGrid {
    fn default() -> Self {
        HeatmapGrid {
            title: String::new(),
            row_labels: Vec::new(),
            rows: Vec::new(),
            caption: String::new(),
            scale: 1,
            percentile: 99.0,
        }
    }
}

/// Where a tile's pixels start in a rendered [`HeatmapGrid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePlace {
    /// Row index.
    pub row: usize,
    /// Column index.
    pub col: usize,
    /// First pixel column of the (upscaled) tile.
    pub left: usize,
    /// First pixel row of the tile.
    pub top: usize,
}

/// Where a colour bar lies in a rendered [`HeatmapGrid`]: column `left +
/// i` shows `colormap.color(i / (width − 1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorbarPlace {
    /// The colormap shown.
    pub colormap: Colormap,
    /// First pixel column.
    pub left: usize,
    /// First pixel row.
    pub top: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// The geometry of a rendered [`HeatmapGrid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridLayout {
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Height of the title band (0 without a title).
    pub title_height: usize,
    /// Every non-blank tile.
    pub tiles: Vec<TilePlace>,
    /// The colour bars (diverging first, then sequential; only those used).
    pub colorbars: Vec<ColorbarPlace>,
}

/// A horizontal colour bar: column `x` has `colormap.color(x / (width −
/// 1))`, so the ends are exactly the colormap's ends.
///
/// ```
/// use salience_report::render::{colorbar, Colormap};
/// let bar = colorbar(Colormap::Viridis, 50, 4)?;
/// assert_eq!(bar.pixel(0, 2), Some(Colormap::Viridis.color(0.0)));
/// assert_eq!(bar.pixel(49, 3), Some(Colormap::Viridis.color(1.0)));
/// assert!(colorbar(Colormap::Viridis, 1, 4).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn colorbar(colormap: Colormap, width: usize, height: usize) -> Result<RgbImage> {
    if width < 2 {
        return Err(SalienceError::invalid(
            "colour bar width",
            width,
            "must be at least 2",
        ));
    }
    check_size(width, height, "colour bar")?;
    let span = (width - 1) as f32;
    let row: Vec<u8> = (0..width)
        .flat_map(|x| colormap.color(x as f32 / span))
        .collect();
    RgbImage::from_raw(width, height, row.repeat(height))
}

/// The tile size (before upscaling) of a cell; `None` for a blank.
fn tile_size(t: &Tile) -> Option<(usize, usize)> {
    match t {
        Tile::Image(i) => Some((i.width(), i.height())),
        Tile::Map(m) => Some((m.ncols(), m.nrows())),
        Tile::Blank => None,
    }
}

/// `a · b + c`, overflow-checked (saturating to a size the checks reject).
fn mul_add(a: usize, b: usize, c: usize) -> usize {
    a.checked_mul(b)
        .and_then(|p| p.checked_add(c))
        .unwrap_or(usize::MAX)
}

/// A compact number: 3 significant digits, scientific when very large or
/// small.
fn short(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-2..1e4).contains(&a) {
        let d = (2 - a.log10().floor() as i32).clamp(0, 4) as usize;
        format!("{v:.d$}")
    } else {
        format!("{v:.2e}")
    }
}

/// `text` broken into lines of at most `max_px` pixels at `px`.
fn wrap(text: &str, max_px: usize, px: f64) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let cand = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && draw::text_width(&cand, px) > max_px {
                lines.push(std::mem::replace(&mut line, word.to_string()));
            } else {
                line = cand;
            }
        }
        lines.push(line);
    }
    lines
}

/// Which colormaps the maps use: (any signed, any unsigned).
fn signs(rows: &[Vec<Cell>]) -> (bool, bool) {
    let maps = rows.iter().flatten().filter_map(|c| match &c.tile {
        Tile::Map(m) => Some(MapSign::of(m.view())),
        _ => None,
    });
    maps.fold((false, false), |(s, u), m| {
        (s || m == MapSign::Signed, u || m == MapSign::Unsigned)
    })
}

impl HeatmapGrid {
    fn validate(&self) -> Result<(usize, usize)> {
        if !(1..=64).contains(&self.scale) {
            return Err(SalienceError::invalid(
                "scale",
                self.scale,
                "must be in 1..=64",
            ));
        }
        if self.percentile.is_nan() || self.percentile <= 0.0 || self.percentile > 100.0 {
            return Err(SalienceError::invalid(
                "percentile",
                self.percentile,
                "must be in (0, 100]",
            ));
        }
        if !self.row_labels.is_empty() && self.row_labels.len() != self.rows.len() {
            return Err(SalienceError::shape(
                "row labels",
                format!("{} (one per row) or none", self.rows.len()),
                &[self.row_labels.len()],
            ));
        }
        let mut sizes = self
            .rows
            .iter()
            .flatten()
            .filter_map(|c| tile_size(&c.tile));
        let (tw, th) = sizes
            .next()
            .ok_or_else(|| SalienceError::Empty("heatmap grid with no tiles".into()))?;
        if let Some(other) = sizes.find(|&s| s != (tw, th)) {
            return Err(SalienceError::shape(
                "grid tile",
                format!("{tw}×{th} (the first tile)"),
                &[other.0, other.1],
            ));
        }
        if tw == 0 || th == 0 {
            return Err(SalienceError::Empty(format!(
                "grid tiles of size {tw}×{th}"
            )));
        }
        let (w, h) = (tw.saturating_mul(self.scale), th.saturating_mul(self.scale));
        check_size(w, h, "upscaled grid tile")?;
        for c in self.rows.iter().flatten() {
            if let Tile::Map(m) = &c.tile {
                salience_core::validate::check_finite(&m.view(), &format!("map `{}`", c.label))?;
            }
        }
        Ok((w, h))
    }

    /// The geometry of [`HeatmapGrid::render`]'s image (validates like
    /// `render`: no tiles, tiles of different sizes, a non-finite map, a
    /// bad scale or percentile, row labels not one per row, or an image over
    /// [`MAX_IMAGE_PIXELS`](crate::render::MAX_IMAGE_PIXELS) are typed
    /// errors).
    ///
    /// ```
    /// use salience_report::render::{Cell, HeatmapGrid};
    /// let g = HeatmapGrid { rows: vec![vec![Cell::map("a", ndarray::Array2::ones((3, 3)))]], ..Default::default() };
    /// let l = g.layout()?;
    /// assert_eq!(l.tiles.len(), 1);
    /// assert!(HeatmapGrid::default().layout().is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn layout(&self) -> Result<GridLayout> {
        let (tw, th) = self.validate()?;
        let row_label_w = (self.row_labels.iter())
            .map(|l| draw::text_width(l, LABEL_PX))
            .max()
            .map_or(0, |w| w.min(MAX_LABEL_W) + GAP);
        let label_w = (self.rows.iter().flatten())
            .map(|c| draw::text_width(&c.label, LABEL_PX))
            .max()
            .unwrap_or(0)
            .min(MAX_LABEL_W);
        let col_w = tw.max(label_w);
        let (any_signed, any_unsigned) = signs(&self.rows);
        let range_h = if any_signed || any_unsigned {
            RANGE_H
        } else {
            0
        };
        let cell_h = mul_add(1, LABEL_H + th, range_h);
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let title_height = if self.title.is_empty() { 0 } else { TITLE_H };
        let width = mul_add(cols, col_w + GAP, GAP + row_label_w).max(240);
        let grid_bottom = mul_add(self.rows.len(), cell_h + GAP, GAP + title_height);
        let mut tiles = Vec::new();
        for (r, row) in self.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if tile_size(&cell.tile).is_some() {
                    let left = GAP + row_label_w + c * (col_w + GAP) + (col_w - tw) / 2;
                    let top = title_height + GAP + r * (cell_h + GAP) + LABEL_H;
                    tiles.push(TilePlace {
                        row: r,
                        col: c,
                        left,
                        top,
                    });
                }
            }
        }
        let bar_w = (width - 2 * GAP).min(300);
        let mut colorbars = Vec::new();
        let mut y = grid_bottom;
        for (used, colormap) in [
            (any_signed, Colormap::Diverging),
            (any_unsigned, Colormap::Viridis),
        ] {
            if used {
                colorbars.push(ColorbarPlace {
                    colormap,
                    left: GAP + 4 * GAP,
                    top: y + LABEL_H,
                    width: bar_w.saturating_sub(8 * GAP).max(2),
                    height: BAR_H,
                });
                y += BAR_BLOCK_H;
            }
        }
        let caption_lines = if self.caption.is_empty() {
            0
        } else {
            wrap(&self.caption, width - 2 * GAP, LABEL_PX).len()
        };
        let height = mul_add(caption_lines, CAPTION_LINE, y + GAP);
        check_size(width, height, "heatmap grid")?;
        Ok(GridLayout {
            width,
            height,
            title_height,
            tiles,
            colorbars,
        })
    }

    /// Draws the grid.
    ///
    /// ```
    /// use salience_report::render::{Cell, HeatmapGrid};
    /// let g = HeatmapGrid {
    ///     title: "t".into(),
    ///     rows: vec![vec![Cell::map("m", ndarray::array![[-1.0f32, 1.0]])]],
    ///     scale: 30,
    ///     ..Default::default()
    /// };
    /// let (img, l) = (g.render()?, g.layout()?);
    /// let t = l.tiles[0];
    /// // The tile's left half is the diverging map's blue end.
    /// assert_eq!(img.pixel(t.left + 5, t.top + 5), Some([5, 48, 97]));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn render(&self) -> Result<RgbImage> {
        let layout = self.layout()?;
        let mut img = RgbImage::filled(layout.width, layout.height, WHITE)?;
        let cells: Vec<&Cell> = self
            .rows
            .iter()
            .flatten()
            .filter(|c| tile_size(&c.tile).is_some())
            .collect();
        let mut ranges = Vec::with_capacity(cells.len());
        for (cell, place) in cells.iter().zip(&layout.tiles) {
            let (pic, range) = match &cell.tile {
                Tile::Image(i) => (i.clone(), None),
                Tile::Map(m) => {
                    let sign = MapSign::of(m.view());
                    let (lo, hi) = signed_range(m.view(), sign, self.percentile);
                    let text = match sign {
                        MapSign::Signed => format!("±{}", short(hi)),
                        MapSign::Unsigned => format!("{} – {}", short(lo), short(hi)),
                    };
                    (heatmap(m.view(), sign, self.percentile)?, Some(text))
                }
                Tile::Blank => continue,
            };
            let pic = upscale_nearest(&pic, self.scale)?;
            crate::render::paste(&mut img, &pic, place.left, place.top);
            ranges.push((place, &cell.label, range, pic.width(), pic.height()));
        }
        for bar in &layout.colorbars {
            let b = colorbar(bar.colormap, bar.width, bar.height)?;
            crate::render::paste(&mut img, &b, bar.left, bar.top);
        }
        draw::draw_on(&mut img, |area| {
            let center = |s: f64| draw::font(s, INK, HPos::Center, VPos::Top);
            let left = |s: f64| draw::font(s, INK, HPos::Left, VPos::Top);
            let w = layout.width;
            let title = draw::fit(&self.title, w - 2 * GAP, TITLE_PX);
            draw::text(area, &title, ((w / 2) as i64, 6), &center(TITLE_PX))?;
            let col_room = |tw: usize| tw.max(MAX_LABEL_W.min(w)) + GAP / 2;
            for (place, label, range, tw, th) in &ranges {
                let cx = (place.left + tw / 2) as i64;
                let label = draw::fit(label, col_room(*tw).min(w), LABEL_PX);
                draw::text(
                    area,
                    &label,
                    (cx, (place.top - LABEL_H + 2) as i64),
                    &center(LABEL_PX),
                )?;
                if let Some(r) = range {
                    let y = (place.top + th + 2) as i64;
                    draw::text(area, r, (cx, y), &center(SMALL_PX))?;
                }
            }
            for (r, label) in self.row_labels.iter().enumerate() {
                if let Some(p) = layout.tiles.iter().find(|t| t.row == r) {
                    let label = draw::fit(label, MAX_LABEL_W, LABEL_PX);
                    let y = (p.top + layout_tile_h(&ranges) / 2) as i64;
                    let style = draw::font(LABEL_PX, INK, HPos::Left, VPos::Center);
                    draw::text(area, &label, (GAP as i64, y), &style)?;
                }
            }
            for bar in &layout.colorbars {
                let (name, ends) = match bar.colormap {
                    Colormap::Diverging => (
                        "signed maps (RdBu, centred at 0; s = the clip value under each tile)",
                        ["−s", "0", "+s"],
                    ),
                    _ => (
                        "unsigned maps (viridis; from the low to the high clip value under each tile)",
                        ["low", "", "high"],
                    ),
                };
                let name = draw::fit(name, w - 2 * GAP, LABEL_PX);
                draw::text(
                    area,
                    &name,
                    (GAP as i64, (bar.top - LABEL_H + 2) as i64),
                    &left(LABEL_PX),
                )?;
                let y = (bar.top + bar.height + 2) as i64;
                for (k, t) in ends.iter().enumerate() {
                    let x = (bar.left + k * (bar.width - 1) / 2) as i64;
                    draw::text(area, t, (x, y), &center(SMALL_PX))?;
                }
            }
            let top = layout
                .colorbars
                .last()
                .map_or(layout.height, |b| b.top + b.height + RANGE_H + GAP);
            let top = if layout.colorbars.is_empty() {
                layout.height
                    - wrap(&self.caption, w - 2 * GAP, LABEL_PX).len() * CAPTION_LINE
                    - GAP
            } else {
                top
            };
            if !self.caption.is_empty() {
                for (k, line) in wrap(&self.caption, w - 2 * GAP, LABEL_PX)
                    .iter()
                    .enumerate()
                {
                    let y = (top + k * CAPTION_LINE) as i64;
                    draw::text(area, line, (GAP as i64, y), &left(LABEL_PX))?;
                }
            }
            Ok(())
        })?;
        Ok(img)
    }

    /// Renders and writes the grid as a PNG file.
    ///
    /// ```
    /// use salience_report::render::{Cell, HeatmapGrid};
    /// let g = HeatmapGrid { rows: vec![vec![Cell::map("a", ndarray::Array2::ones((3, 3)))]], ..Default::default() };
    /// g.write_png(std::env::temp_dir().join("salience_heatmap_grid_doc.png"))?;
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        self.render()?.write_png(path)
    }
}

/// The (upscaled) tile height of the drawn tiles.
fn layout_tile_h<T>(ranges: &[(T, &String, Option<String>, usize, usize)]) -> usize {
    ranges.first().map_or(0, |r| r.4)
}

/// `image` with `caption` written under it (wrapped to the image's width,
/// at least 240 px wide), so a picture says what it shows.
///
/// ```
/// use salience_report::render::{with_caption, RgbImage};
/// let img = RgbImage::filled(300, 100, [0; 3])?;
/// let out = with_caption(&img, "AGG_opt over the input")?;
/// assert_eq!(out.width(), 300);
/// assert!(out.height() > 100);
/// assert_eq!(out.pixel(10, 10), Some([0, 0, 0]));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn with_caption(image: &RgbImage, caption: &str) -> Result<RgbImage> {
    let width = image.width().max(240);
    let lines = wrap(caption, width - 2 * GAP, LABEL_PX);
    let height = mul_add(lines.len(), CAPTION_LINE, image.height() + GAP);
    let mut out = RgbImage::filled(width, height, WHITE)?;
    crate::render::paste(&mut out, image, (width - image.width()) / 2, 0);
    draw::draw_on(&mut out, |area| {
        let style = draw::font(LABEL_PX, INK, HPos::Left, VPos::Top);
        for (k, line) in lines.iter().enumerate() {
            let y = (image.height() + GAP / 2 + k * CAPTION_LINE) as i64;
            draw::text(area, line, (GAP as i64, y), &style)?;
        }
        Ok(())
    })?;
    Ok(out)
}
