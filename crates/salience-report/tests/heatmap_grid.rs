//! Labelled heatmap grids (`render::HeatmapGrid`), colour bars and
//! captions: geometry, colour conventions, text regions, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{array, Array2};
use salience_core::SalienceError;
use salience_report::render::{
    colorbar, with_caption, Cell, Colormap, HeatmapGrid, RgbImage, MAX_IMAGE_PIXELS,
};

const WHITE: [u8; 3] = [255, 255, 255];

/// Pixels in the rectangle that are not white.
fn ink(img: &RgbImage, xs: std::ops::Range<usize>, ys: std::ops::Range<usize>) -> usize {
    ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
        .filter(|&(x, y)| img.pixel(x, y).is_some_and(|p| p != WHITE))
        .count()
}

fn keep(img: &RgbImage, name: &str) {
    if let Ok(dir) = std::env::var("SALIENCE_PLOT_SAMPLES") {
        img.write_png(std::path::Path::new(&dir).join(format!("{name}.png")))
            .unwrap();
    }
}

/// Input, a signed map and an unsigned map, 8×8, two rows.
fn sample_grid() -> HeatmapGrid {
    let input = RgbImage::from_raw(8, 8, (0..192).map(|i| (i % 251) as u8).collect()).unwrap();
    let signed = Array2::from_shape_fn((8, 8), |(_, x)| x as f32 - 3.5);
    let unsigned = Array2::from_shape_fn((8, 8), |(y, x)| (x * y) as f32);
    HeatmapGrid {
        title: "Image 0, class 3 (Fashion-MNIST)".into(),
        row_labels: vec!["methods".into(), "aggregates".into()],
        rows: vec![
            vec![
                Cell::image("input", input),
                Cell::map("IntegratedGradients", signed.clone()),
                Cell::map("Saliency", unsigned.clone()),
            ],
            vec![Cell::map("AGG_mean", signed), Cell::blank()],
        ],
        caption: "Signed maps: blue < 0 < red; unsigned maps: viridis; each clipped at its \
                  99th percentile, the clip values under each tile."
            .into(),
        scale: 8,
        percentile: 99.0,
    }
}

#[test]
fn grid_png_has_the_layout_size_and_decodes() {
    let g = sample_grid();
    let (img, layout) = (g.render().unwrap(), g.layout().unwrap());
    keep(&img, "heatmap_grid");
    assert_eq!((img.width(), img.height()), (layout.width, layout.height));
    let bytes = img.to_png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(
        (info.width as usize, info.height as usize),
        (layout.width, layout.height)
    );
    assert_eq!(&buf[..info.buffer_size()], img.as_raw());
    // Four tiles (the blank is not placed), 64 px each, in two rows.
    assert_eq!(layout.tiles.len(), 4);
    let t = layout.tiles[1];
    assert_eq!((t.row, t.col), (0, 1));
    assert_eq!(layout.tiles[3].row, 1);
    assert!(layout.tiles[3].top >= t.top + 64);
}

#[test]
fn title_labels_ranges_and_caption_have_text() {
    let g = sample_grid();
    let (img, l) = (g.render().unwrap(), g.layout().unwrap());
    // Title band.
    assert!(l.title_height > 0);
    assert!(ink(&img, 0..l.width, 0..l.title_height) > 50);
    // Every tile's label line (above it) and value-range line (under it,
    // maps only) has text; the input tile has no range line.
    for t in &l.tiles {
        let xs = t.left..t.left + 64;
        assert!(
            ink(&img, xs.clone(), t.top - 16..t.top) > 20,
            "label of {t:?}"
        );
        let under = ink(&img, xs, t.top + 64..t.top + 64 + 14);
        if t.col == 0 && t.row == 0 {
            assert_eq!(under, 0);
        } else {
            assert!(under > 10, "range of {t:?}");
        }
    }
    // Row labels left of the first tile of each row.
    for r in 0..2 {
        let t = l.tiles.iter().find(|t| t.row == r).unwrap();
        assert!(ink(&img, 0..t.left, t.top..t.top + 64) > 20, "row {r}");
    }
    // Caption: the last lines.
    let bar = l.colorbars.last().unwrap();
    let below = bar.top + bar.height + 16;
    assert!(ink(&img, 0..l.width, below..l.height) > 100);
}

#[test]
fn colour_bars_end_in_the_colormap_ends_and_tiles_follow_the_convention() {
    let g = sample_grid();
    let (img, l) = (g.render().unwrap(), g.layout().unwrap());
    let maps: Vec<Colormap> = l.colorbars.iter().map(|b| b.colormap).collect();
    assert_eq!(maps, [Colormap::Diverging, Colormap::Viridis]);
    for b in &l.colorbars {
        let y = b.top + b.height / 2;
        assert_eq!(img.pixel(b.left, y), Some(b.colormap.color(0.0)));
        assert_eq!(
            img.pixel(b.left + b.width - 1, y),
            Some(b.colormap.color(1.0))
        );
        // Its labels (under it) and name (above it) are drawn.
        assert!(
            ink(
                &img,
                b.left..b.left + b.width,
                b.top + b.height..b.top + b.height + 14
            ) > 10
        );
        assert!(ink(&img, 0..l.width, b.top - 16..b.top) > 50);
    }
    // The signed map (x − 3.5, |v| ≤ 3.5 in a quarter of the pixels, so
    // the 99th percentile is 3.5): its most negative column is the
    // diverging map's blue end, its most positive the red end; the
    // unsigned map (x · y) starts at viridis' dark end.
    for (t, cm) in [
        (l.tiles[1], Colormap::Diverging),
        (l.tiles[2], Colormap::Viridis),
    ] {
        assert_eq!(img.pixel(t.left + 1, t.top + 1), Some(cm.color(0.0)));
        assert_eq!(img.pixel(t.left + 62, t.top + 62), Some(cm.color(1.0)));
    }
    // A grid of images only has no colour bar.
    let pics = HeatmapGrid {
        rows: vec![vec![Cell::image(
            "x",
            RgbImage::filled(4, 4, [9; 3]).unwrap(),
        )]],
        ..Default::default()
    };
    assert!(pics.layout().unwrap().colorbars.is_empty());
}

#[test]
fn colorbar_ends_are_exact() {
    for cm in [Colormap::Diverging, Colormap::Viridis, Colormap::Gray] {
        let b = colorbar(cm, 101, 3).unwrap();
        assert_eq!(b.pixel(0, 1), Some(cm.color(0.0)));
        assert_eq!(b.pixel(50, 2), Some(cm.color(0.5)));
        assert_eq!(b.pixel(100, 0), Some(cm.color(1.0)));
    }
    assert!(matches!(
        colorbar(Colormap::Viridis, 10, 0),
        Err(SalienceError::Empty(_))
    ));
    assert!(matches!(
        colorbar(Colormap::Viridis, MAX_IMAGE_PIXELS, 2),
        Err(SalienceError::InvalidParameter { .. })
    ));
}

#[test]
fn caption_says_what_an_overlay_shows() {
    let img = RgbImage::filled(112, 112, [30, 60, 90]).unwrap();
    let out = with_caption(
        &img,
        "AGG_opt over the input: viridis, opaque where |map| is large (99th percentile)",
    )
    .unwrap();
    keep(&out, "caption");
    // At least 240 px wide, the picture centred on top, text under it.
    assert_eq!(out.width(), 240);
    let x0 = (240 - 112) / 2;
    assert_eq!(out.pixel(x0, 0), Some([30, 60, 90]));
    assert_eq!(out.pixel(x0 - 1, 0), Some(WHITE));
    assert!(out.height() > 112 + 2 * 15);
    assert!(ink(&out, 0..240, 112..out.height()) > 100);
}

#[test]
fn bad_grids_are_typed_errors() {
    let map = || array![[0.0f32, 1.0], [2.0, 3.0]];
    let grid = |rows: Vec<Vec<Cell>>| HeatmapGrid {
        rows,
        ..Default::default()
    };
    assert!(matches!(
        HeatmapGrid::default().render(),
        Err(SalienceError::Empty(_))
    ));
    assert!(matches!(
        grid(vec![vec![Cell::blank()]]).render(),
        Err(SalienceError::Empty(_))
    ));
    assert!(matches!(
        grid(vec![vec![
            Cell::map("a", map()),
            Cell::map("b", Array2::zeros((3, 2)))
        ]])
        .render(),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let mut nan = map();
    nan[[1, 0]] = f32::NAN;
    let err = grid(vec![vec![Cell::map("ig", nan)]]).render().unwrap_err();
    assert!(matches!(err, SalienceError::NonFinite { .. }), "{err}");
    assert!(err.to_string().contains("ig"), "{err}");
    assert!(matches!(
        grid(vec![vec![Cell::map("a", Array2::zeros((0, 2)))]]).render(),
        Err(SalienceError::Empty(_))
    ));
    for scale in [0, 65] {
        let g = HeatmapGrid {
            scale,
            ..grid(vec![vec![Cell::map("a", map())]])
        };
        assert!(matches!(
            g.render(),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
    for percentile in [0.0, 101.0, f64::NAN] {
        let g = HeatmapGrid {
            percentile,
            ..grid(vec![vec![Cell::map("a", map())]])
        };
        assert!(matches!(
            g.render(),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
    let g = HeatmapGrid {
        row_labels: vec!["one".into(), "two".into()],
        ..grid(vec![vec![Cell::map("a", map())]])
    };
    assert!(matches!(
        g.render(),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    // Absurd sizes: over MAX_IMAGE_PIXELS before any large allocation.
    let big = RgbImage::filled(2048, 2048, [0; 3]).unwrap();
    let g = HeatmapGrid {
        scale: 16,
        ..grid(vec![vec![Cell::image("big", big)]])
    };
    assert!(matches!(
        g.layout(),
        Err(SalienceError::InvalidParameter { .. })
    ));
    let many: Vec<Vec<Cell>> = (0..20_000).map(|_| vec![Cell::map("m", map())]).collect();
    let g = HeatmapGrid {
        scale: 64,
        ..grid(many)
    };
    assert!(matches!(
        g.layout(),
        Err(SalienceError::InvalidParameter { .. })
    ));
}
