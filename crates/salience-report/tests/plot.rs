//! Pixel-level tests of salience_report::render::plot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use proptest::prelude::*;
use salience_core::SalienceError;
use salience_report::render::plot::{
    nice_ticks, BarChart, BarSeries, BoxGroup, BoxPlot, BoxStats, LineChart, PlotArea, Series,
    PALETTE,
};
use salience_report::render::RgbImage;

fn line_chart(series: Vec<Series>) -> LineChart {
    LineChart {
        title: "A title".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series,
        ..Default::default()
    }
}

fn count_color(img: &RgbImage, color: [u8; 3], rows: std::ops::Range<usize>) -> usize {
    rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| img.pixel(x, y) == Some(color))
        .count()
}

fn plot_bottom(area: &PlotArea) -> usize {
    area.top + area.height
}

#[test]
fn horizontal_line_is_drawn_at_its_row() {
    let chart = line_chart(vec![
        Series::new("flat", vec![(0.0, 0.55), (5.0, 0.55), (10.0, 0.55)]),
        Series::new("low", vec![(0.0, 0.0), (10.0, 0.2)]),
    ]);
    let (img, area) = (chart.render().unwrap(), chart.area().unwrap());
    let row = area.row(0.55).unwrap();
    let (c0, c1) = (area.col(0.0).unwrap(), area.col(10.0).unwrap());
    for x in c0 + 4..c1 - 4 {
        assert_eq!(img.pixel(x, row), Some(PALETTE[0]), "column {x}");
    }
    // Nothing of the first series' color 6 rows above or below the line.
    for x in c0 + 4..c1 - 4 {
        assert_ne!(img.pixel(x, row - 6), Some(PALETTE[0]));
        assert_ne!(img.pixel(x, row + 6), Some(PALETTE[0]));
    }
    // The second series starts at (0, 0): the bottom-left corner.
    assert_eq!(area.row(0.0), Some(plot_bottom(&area) - 1));
    assert_eq!(img.pixel(c0 + 1, plot_bottom(&area) - 1), Some(PALETTE[1]));
}

#[test]
fn legend_patches_have_the_series_colors() {
    let chart = line_chart(vec![
        Series::new("first", vec![(0.0, 1.0), (1.0, 2.0)]),
        Series::new("second", vec![(0.0, 2.0), (1.0, 1.0)]),
    ]);
    let (img, area) = (chart.render().unwrap(), chart.area().unwrap());
    // (Markers on the axis may stick out by 3 px.)
    let below = plot_bottom(&area) + 4..img.height();
    assert!(count_color(&img, PALETTE[0], below.clone()) >= 20);
    assert!(count_color(&img, PALETTE[1], below.clone()) >= 20);
    assert_eq!(count_color(&img, PALETTE[2], below), 0);
    // Without labels there is no legend, so nothing colored below the axis.
    let unlabeled = line_chart(vec![Series::new("", vec![(0.0, 1.0), (1.0, 2.0)])]);
    let (img, area) = (unlabeled.render().unwrap(), unlabeled.area().unwrap());
    assert_eq!(
        count_color(&img, PALETTE[0], plot_bottom(&area) + 4..img.height()),
        0
    );
}

#[test]
fn band_is_shaded_between_lo_and_hi() {
    let chart = line_chart(vec![
        Series::new("s", vec![(0.0, 1.0), (10.0, 1.0)]).with_band(vec![(0.0, 2.0), (0.0, 2.0)])
    ]);
    let (img, area) = (chart.render().unwrap(), chart.area().unwrap());
    let x = area.col(5.0).unwrap();
    let inside = img.pixel(x, area.row(1.5).unwrap()).unwrap();
    // A light tint of the series color: bluish, not white, not the color.
    assert!(inside[2] > inside[0] && inside != [255; 3] && inside != PALETTE[0]);
    // Below the line, outside the band's columns' tint: the band covers
    // y in [0, 2], the whole axis, so check the white margin above it.
    assert_eq!(img.pixel(x, area.top - 3), Some([255, 255, 255]));
}

#[test]
fn dense_series_have_no_markers() {
    let pts: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.5)).collect();
    let dense = line_chart(vec![Series::new("d", pts)]);
    let (img, area) = (dense.render().unwrap(), dense.area().unwrap());
    let row = area.row(0.5).unwrap();
    // The 2 px line only: nothing of its color 3 rows above it.
    assert_eq!(img.pixel(area.col(500.0).unwrap(), row), Some(PALETTE[0]));
    assert_eq!(count_color(&img, PALETTE[0], row - 3..row - 2), 0);
    let sparse = line_chart(vec![Series::new("s", vec![(0.0, 0.5), (999.0, 0.5)])]);
    let img = sparse.render().unwrap();
    assert!(count_color(&img, PALETTE[0], row - 3..row - 2) > 0);
}

#[test]
fn log_x_places_decades_evenly() {
    let chart = LineChart {
        log_x: true,
        ..line_chart(vec![Series::new(
            "s",
            vec![(10.0, 1.0), (100.0, 2.0), (1000.0, 3.0)],
        )])
    };
    let area = chart.area().unwrap();
    assert_eq!(area.x_range, (10.0, 1000.0));
    let (a, b, c) = (
        area.col(10.0).unwrap() as i64,
        area.col(100.0).unwrap() as i64,
        area.col(1000.0).unwrap() as i64,
    );
    assert!(((b - a) - (c - b)).abs() <= 1);
    let img = chart.render().unwrap();
    assert_eq!(
        img.pixel(b as usize, area.row(2.0).unwrap()),
        Some(PALETTE[0])
    );
}

#[test]
fn constant_series_is_padded_not_an_error() {
    let chart = line_chart(vec![Series::new("c", vec![(1.0, 3.0), (1.0, 3.0)])]);
    let area = chart.area().unwrap();
    assert!(area.y_range.0 < 3.0 && area.y_range.1 > 3.0);
    assert!(area.x_range.0 < 1.0 && area.x_range.1 > 1.0);
    let img = chart.render().unwrap();
    assert_eq!(
        img.pixel(area.col(1.0).unwrap(), area.row(3.0).unwrap()),
        Some(PALETTE[0])
    );
}

#[test]
fn box_stats_match_numpy_linear_quartiles() {
    let v: Vec<f64> = (1..=8).map(f64::from).collect();
    let s = BoxStats::of(&v).unwrap();
    assert_eq!((s.q1, s.median, s.q3), (2.75, 4.5, 6.25));
    assert_eq!((s.whisker_lo, s.whisker_hi), (1.0, 8.0));
    assert!(s.outliers.is_empty());
    // Q1 = 2, Q3 = 4, IQR = 2: fences -1 and 7; -5 and 9 are outliers, the
    // whiskers end at the extreme values inside the fences.
    let s = BoxStats::of(&[9.0, 2.0, -5.0, 3.0, 4.0, 2.0, 3.0, 4.0, 6.5]).unwrap();
    assert_eq!((s.q1, s.median, s.q3), (2.0, 3.0, 4.0));
    assert_eq!((s.whisker_lo, s.whisker_hi), (2.0, 6.5));
    assert_eq!(s.outliers, vec![-5.0, 9.0]);
    assert!(BoxStats::of(&[1.0, f64::NAN]).is_err());
}

#[test]
fn box_median_row_matches_the_median() {
    let plot = BoxPlot {
        title: "Weights".into(),
        y_label: "w".into(),
        groups: vec![
            BoxGroup {
                label: "first".into(),
                values: vec![0.1, 0.2, 0.37, 0.5, 0.9, 2.5],
            },
            BoxGroup {
                label: "second".into(),
                values: vec![1.0, 1.2, 1.31, 1.4, 1.6],
            },
        ],
        ..Default::default()
    };
    let (img, area) = (plot.render().unwrap(), plot.area().unwrap());
    for (i, g) in plot.groups.iter().enumerate() {
        let median = BoxStats::of(&g.values).unwrap().median;
        let x = area.col(i as f64 + 0.5).unwrap();
        let first_dark = (area.top..plot_bottom(&area))
            .find(|&y| img.pixel(x, y) == Some([20, 20, 20]))
            .unwrap();
        assert_eq!(first_dark, area.row(median).unwrap(), "group {i}");
    }
    // 2.5 is an outlier of the first group: a ring of the group color.
    let x = area.col(0.5).unwrap();
    let y = area.row(2.5).unwrap();
    assert_eq!(img.pixel(x, y), Some([255, 255, 255]));
    assert_eq!(img.pixel(x + 3, y), Some(PALETTE[0]));
}

#[test]
fn bars_reach_their_value_and_error_bars_are_drawn() {
    let chart = BarChart {
        title: "Bars".into(),
        y_label: "score".into(),
        categories: vec!["a".into(), "b".into()],
        series: vec![
            BarSeries {
                label: "s0".into(),
                values: vec![3.0, -1.0],
                err: Some(vec![0.5, 0.0]),
            },
            BarSeries {
                label: "s1".into(),
                values: vec![1.0, 2.0],
                err: None,
            },
        ],
        ..Default::default()
    };
    let (img, area) = (chart.render().unwrap(), chart.area().unwrap());
    assert!(area.y_range.0 <= -1.0 && area.y_range.1 >= 3.5);
    // Category 0, series 0 occupies x in [0.1, 0.5] of the slot.
    let x = area.col(0.2).unwrap();
    assert_eq!(img.pixel(x, area.row(2.0).unwrap()), Some(PALETTE[0]));
    assert_ne!(img.pixel(x, area.row(3.2).unwrap()), Some(PALETTE[0]));
    // Its error bar runs through 3.5 in ink at the bar's middle.
    let mid = area.col(0.3).unwrap();
    let ink =
        (mid - 2..=mid + 2).any(|x| img.pixel(x, area.row(3.4).unwrap()) == Some([40, 40, 40]));
    assert!(ink);
    // Negative bar goes down from 0; series 1 at category 1 up to 2.
    assert_eq!(
        img.pixel(area.col(1.2).unwrap(), area.row(-0.5).unwrap()),
        Some(PALETTE[0])
    );
    assert_eq!(
        img.pixel(area.col(1.7).unwrap(), area.row(1.5).unwrap()),
        Some(PALETTE[1])
    );
    // Legend patches below the axis.
    let below = plot_bottom(&area) + 1..img.height();
    assert!(count_color(&img, PALETTE[1], below) >= 50);
}

#[test]
fn png_round_trip() {
    let chart = line_chart(vec![Series::new("s", vec![(0.0, 0.0), (1.0, 1.0)])]);
    let img = chart.render().unwrap();
    let dir = std::env::temp_dir().join(format!("salience_plot_test_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("line.png");
    chart.write_png(&path).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (640, 420));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(&buf[..info.buffer_size()], img.as_raw());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sample_charts_render() {
    // Realistic charts (also handy to eyeball: set SALIENCE_PLOT_SAMPLES to
    // a folder to keep them).
    let steps = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];
    let series = [
        "AGG_mean",
        "AGG_var",
        "AGG_opt (z-score)",
        "Integrated Gradients",
    ]
    .iter()
    .enumerate()
    .map(|(k, name)| {
        let pts: Vec<(f64, f64)> = steps
            .iter()
            .map(|&s: &f64| (s, 0.2 + 0.1 * k as f64 + 0.3 / s.sqrt()))
            .collect();
        let band = pts.iter().map(|p| (p.1 - 0.03, p.1 + 0.03)).collect();
        Series::new(*name, pts).with_band(band)
    })
    .collect();
    let line = LineChart {
        title: "Insertion AUC vs. ensemble size (Fashion-MNIST)".into(),
        x_label: "number of samples (log scale)".into(),
        y_label: "insertion AUC (higher is better)".into(),
        series,
        log_x: true,
        ..Default::default()
    };
    let boxes = BoxPlot {
        title: "AGG_opt weights per method".into(),
        y_label: "weight".into(),
        groups: [
            "Saliency",
            "IntegratedGradients",
            "SmoothGrad",
            "LIME",
            "KernelSHAP",
        ]
        .iter()
        .enumerate()
        .map(|(k, n)| BoxGroup {
            label: n.to_string(),
            values: (0..40)
                .map(|i| {
                    0.1 * k as f64 + ((i * 37 % 23) as f64 / 40.0) + if i == 0 { 1.5 } else { 0.0 }
                })
                .collect(),
        })
        .collect(),
        ..Default::default()
    };
    let bars = BarChart {
        title: "Faithfulness correlation".into(),
        y_label: "FCOR".into(),
        categories: ["Saliency", "IG", "SmoothGrad", "AGG_mean", "AGG_opt"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        series: (0..3)
            .map(|j| BarSeries {
                label: format!("setting {j}"),
                values: [0.2, 0.35, -0.1, 0.4, 0.5]
                    .iter()
                    .map(|v| v + 0.05 * j as f64)
                    .collect(),
                err: Some(vec![0.03; 5]),
            })
            .collect(),
        ..Default::default()
    };
    let images = [
        line.render().unwrap(),
        boxes.render().unwrap(),
        bars.render().unwrap(),
    ];
    if let Ok(dir) = std::env::var("SALIENCE_PLOT_SAMPLES") {
        for (img, name) in images.iter().zip(["line", "box", "bar"]) {
            img.write_png(std::path::Path::new(&dir).join(format!("{name}.png")))
                .unwrap();
        }
    }
    for img in &images {
        // Every chart has ink (text) and every palette color it uses. Text
        // is anti-aliased (TrueType): count the INK-over-white blends of
        // coverage ≥ 1/2 (gray 40..=148), not the axis frame's gray 90.
        let text_ink = (0..img.height())
            .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
            .filter_map(|(x, y)| img.pixel(x, y))
            .filter(|p| p[0] == p[1] && p[1] == p[2] && (40..=148).contains(&p[0]) && p[0] != 90)
            .count();
        assert!(text_ink > 200, "{text_ink} text pixels");
        assert!(count_color(img, PALETTE[0], 0..img.height()) > 50);
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let ok = Series::new("ok", vec![(1.0, 1.0), (2.0, 2.0)]);
    assert!(matches!(
        line_chart(vec![]).render(),
        Err(SalienceError::Empty(_))
    ));
    assert!(matches!(
        line_chart(vec![Series::new("e", vec![])]).render(),
        Err(SalienceError::Empty(_))
    ));
    let nan = line_chart(vec![
        ok.clone(),
        Series::new("bad one", vec![(1.0, f64::NAN)]),
    ]);
    let err = nan.render().unwrap_err();
    assert!(matches!(err, SalienceError::NonFinite { index: 1, .. }));
    assert!(err.to_string().contains("bad one"), "{err}");
    let inf_band = line_chart(vec![ok
        .clone()
        .with_band(vec![(0.0, 1.0), (f64::INFINITY, 1.0)])]);
    assert!(matches!(
        inf_band.render(),
        Err(SalienceError::NonFinite { index: 2, .. })
    ));
    let short_band = line_chart(vec![ok.clone().with_band(vec![(0.0, 1.0)])]);
    assert!(matches!(
        short_band.render(),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let log = LineChart {
        log_x: true,
        ..line_chart(vec![Series::new("z", vec![(0.0, 1.0)])])
    };
    assert!(matches!(
        log.render(),
        Err(SalienceError::InvalidParameter { .. })
    ));
    for (w, h) in [(0, 420), (640, 0)] {
        let c = LineChart {
            width: w,
            height: h,
            ..line_chart(vec![ok.clone()])
        };
        assert!(matches!(c.render(), Err(SalienceError::Empty(_))));
    }
    for (w, h) in [(40, 420), (640, 50), (20_000, 420)] {
        let c = LineChart {
            width: w,
            height: h,
            ..line_chart(vec![ok.clone()])
        };
        assert!(
            matches!(c.render(), Err(SalienceError::InvalidParameter { .. })),
            "{w}×{h}"
        );
    }
    let write = line_chart(vec![]).write_png(std::env::temp_dir().join("salience_never.png"));
    assert!(write.is_err());

    assert!(matches!(
        BoxPlot::default().render(),
        Err(SalienceError::Empty(_))
    ));
    let empty_group = BoxPlot {
        groups: vec![BoxGroup {
            label: "nothing".into(),
            values: vec![],
        }],
        ..Default::default()
    };
    let err = empty_group.render().unwrap_err();
    assert!(matches!(err, SalienceError::Empty(_)) && err.to_string().contains("nothing"));
    let nan_group = BoxPlot {
        groups: vec![BoxGroup {
            label: "g".into(),
            values: vec![1.0, f64::NAN],
        }],
        ..Default::default()
    };
    assert!(matches!(
        nan_group.render(),
        Err(SalienceError::NonFinite { index: 1, .. })
    ));

    let bars = |values: Vec<f64>, err: Option<Vec<f64>>| BarChart {
        categories: vec!["a".into(), "b".into()],
        series: vec![BarSeries {
            label: "s".into(),
            values,
            err,
        }],
        ..Default::default()
    };
    assert!(bars(vec![1.0, 2.0], None).render().is_ok());
    assert!(matches!(
        bars(vec![1.0], None).render(),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        bars(vec![1.0, f64::NAN], None).render(),
        Err(SalienceError::NonFinite { .. })
    ));
    assert!(matches!(
        bars(vec![1.0, 2.0], Some(vec![0.1])).render(),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        bars(vec![1.0, 2.0], Some(vec![0.1, -0.1])).render(),
        Err(SalienceError::InvalidParameter { .. })
    ));
    let no_series = BarChart {
        categories: vec!["a".into()],
        ..Default::default()
    };
    assert!(matches!(no_series.render(), Err(SalienceError::Empty(_))));
    assert!(matches!(
        BarChart::default().render(),
        Err(SalienceError::Empty(_))
    ));
}

#[test]
fn nice_ticks_known_cases() {
    let t = nice_ticks(0.0, 1.0).unwrap();
    assert_eq!(t.values, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    let t = nice_ticks(-3.2, 17.0).unwrap();
    assert_eq!((t.lo, t.hi, t.step), (-5.0, 20.0, 5.0));
    let t = nice_ticks(0.0, 0.0).unwrap();
    assert_eq!(t.values, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(t.labels(), vec!["-1.0", "-0.5", "0.0", "0.5", "1.0"]);
    let t = nice_ticks(1.5e7, 3.0e7).unwrap();
    assert_eq!(t.labels().first().map(String::as_str), Some("1.5e7"));
    assert!(nice_ticks(2.0, 1.0).is_err());
    assert!(nice_ticks(f64::NEG_INFINITY, 1.0).is_err());
    assert!(nice_ticks(-f64::MAX, f64::MAX).is_err());
}

/// The mantissa of a step 1, 2 or 5 × 10^k.
fn is_nice(step: f64) -> bool {
    let k = step.log10().floor();
    let m = step / 10f64.powf(k);
    [1.0, 2.0, 5.0, 10.0].iter().any(|n| (m - n).abs() < 1e-6)
}

proptest! {
    #[test]
    fn nice_ticks_cover_the_range(a in -1e6f64..1e6, span in 1e-6f64..1e6) {
        let (lo, hi) = (a, a + span);
        let t = nice_ticks(lo, hi).unwrap();
        prop_assert!((3..=10).contains(&t.values.len()), "{} ticks", t.values.len());
        prop_assert!(is_nice(t.step), "step {}", t.step);
        let eps = 1e-9 * lo.abs().max(hi.abs()).max(t.step);
        prop_assert!(t.lo <= lo + eps && t.hi >= hi - eps);
        prop_assert_eq!(t.values.first().copied(), Some(t.lo));
        prop_assert_eq!(t.values.last().copied(), Some(t.hi));
        for w in t.values.windows(2) {
            prop_assert!((w[1] - w[0] - t.step).abs() <= 1e-6 * t.step);
        }
        for v in &t.values {
            prop_assert!(*v >= t.lo && *v <= t.hi);
        }
        // Labels are distinct.
        let labels = t.labels();
        let mut dedup = labels.clone();
        dedup.dedup();
        prop_assert_eq!(labels.len(), dedup.len());
    }
}

fn keep(img: &RgbImage, name: &str) {
    if let Ok(dir) = std::env::var("SALIENCE_PLOT_SAMPLES") {
        img.write_png(std::path::Path::new(&dir).join(format!("{name}.png")))
            .unwrap();
    }
}

#[test]
fn edge_cases_render_or_error_without_panicking() {
    // Extreme ranges: an error or a picture, never a panic or a hang.
    for (lo, hi) in [
        (1e307, 1.7e308),
        (-1.7e308, 1.7e308),
        (0.0, 1e-320),
        (5e-324, 1e-323),
    ] {
        let c = line_chart(vec![Series::new("s", vec![(0.0, lo), (1.0, hi)])]);
        let _ = c.render();
    }
    let wide_log = LineChart {
        log_x: true,
        ..line_chart(vec![Series::new("s", vec![(1e-300, 0.0), (1e300, 1.0)])])
    };
    let img = wide_log.render().unwrap();
    keep(&img, "edge_wide_log");
    let extreme_log = LineChart {
        log_x: true,
        ..line_chart(vec![Series::new("s", vec![(5e-324, 0.0), (f64::MAX, 1.0)])])
    };
    let _ = extreme_log.render();
    // A hand-made PlotArea with silly fields.
    let area = PlotArea {
        left: usize::MAX,
        top: usize::MAX,
        width: 0,
        height: 0,
        x_range: (1.0, 1.0),
        y_range: (0.0, 1.0),
        log_x: true,
    };
    assert_eq!(area.col(1.0), None);
    let _ = area.row(0.5);

    // Small image, long texts, many series: legend wraps, text is cut.
    let many: Vec<Series> = (0..12)
        .map(|k| {
            Series::new(
                format!("a rather long series label number {k}"),
                vec![(0.0, k as f64), (1e-5, k as f64 + 0.5)],
            )
        })
        .collect();
    let small = LineChart {
        title: "A very long title that cannot fit into a small image at all".into(),
        x_label: "a long x label that is cut".into(),
        y_label: "and a long y label that is cut as well".into(),
        series: many,
        width: 320,
        height: 400,
        ..Default::default()
    };
    let img = small.render().unwrap();
    keep(&img, "edge_small");
    // The legend lists 12 entries in rows: colors of series 10 and 11
    // (palette wraps around) are present below the plot.
    let area = small.area().unwrap();
    assert!(count_color(&img, PALETTE[1], plot_bottom(&area) + 4..img.height()) >= 20);
    // Too many legend rows for a short image: a typed error.
    let short = LineChart {
        height: 150,
        ..small
    };
    assert!(matches!(
        short.render(),
        Err(SalienceError::InvalidParameter { .. })
    ));

    // Many categories with long names, one value each.
    let names: Vec<String> = (0..14).map(|i| format!("category-{i}-long-name")).collect();
    let bars = BarChart {
        title: "Many categories".into(),
        y_label: "v".into(),
        series: vec![BarSeries {
            label: String::new(),
            values: (0..14).map(|i| 1e-6 * i as f64).collect(),
            err: None,
        }],
        categories: names,
        ..Default::default()
    };
    let img = bars.render().unwrap();
    keep(&img, "edge_bars");
}

#[test]
fn error_bars_and_bands_never_cross_the_bounds() {
    use salience_report::render::plot::ValueBounds;
    // Fractions 0.1 ± 0.3 and 0.95 ± 0.3: unclamped, the bars would reach
    // -0.2 and 1.25.
    let bars = |bounds| BarChart {
        categories: vec!["a".into(), "b".into()],
        series: vec![BarSeries {
            label: "s".into(),
            values: vec![0.1, 0.95],
            err: Some(vec![0.3, 0.3]),
        }],
        bounds,
        ..Default::default()
    };
    let free = bars(ValueBounds::UNBOUNDED).area().unwrap();
    assert!(free.y_range.0 < 0.0 && free.y_range.1 > 1.0);
    let chart = bars(ValueBounds::UNIT);
    let (img, area) = (chart.render().unwrap(), chart.area().unwrap());
    assert_eq!(area.y_range, (0.0, 1.0));
    // Bar "b" (x in [1.1, 1.9]): its upper cap is drawn in ink at 1.0.
    let mid = area.col(1.5).unwrap();
    let top = area.row(1.0).unwrap();
    assert!((mid - 2..=mid + 2).any(|x| img.pixel(x, top) == Some([40, 40, 40])));
    // Bar "a": its lower end stops at 0 (the bottom row of the plot), and
    // the error bar is ink from there up to 0.4.
    let mid = area.col(0.5).unwrap();
    let bottom = area.row(0.0).unwrap();
    assert_eq!(bottom, plot_bottom(&area) - 1);
    let ink_col = (mid - 2..=mid + 2)
        .find(|&x| img.pixel(x, area.row(0.3).unwrap()) == Some([40, 40, 40]))
        .unwrap();
    assert_eq!(
        img.pixel(ink_col, area.row(0.35).unwrap()),
        Some([40, 40, 40])
    );

    // A band of a score ≥ 0 stops at 0 as well.
    let line = |bounds| LineChart {
        bounds,
        ..line_chart(vec![Series::new("s", vec![(0.0, 0.05), (1.0, 0.1)])
            .with_band(vec![(-0.2, 0.3), (-0.1, 0.3)])])
    };
    assert!(line(ValueBounds::UNBOUNDED).area().unwrap().y_range.0 < 0.0);
    let chart = line(ValueBounds::NON_NEGATIVE);
    assert_eq!(chart.area().unwrap().y_range.0, 0.0);
    assert!(chart.render().is_ok());

    // Bounds themselves are checked.
    for bounds in [
        ValueBounds {
            min: Some(1.0),
            max: Some(0.0),
        },
        ValueBounds {
            min: Some(f64::NAN),
            max: None,
        },
    ] {
        assert!(matches!(
            bars(bounds).render(),
            Err(SalienceError::InvalidParameter { .. })
        ));
        assert!(matches!(
            line(bounds).render(),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
}

#[test]
fn title_axis_labels_and_legend_regions_have_text() {
    let white = [255, 255, 255];
    let ink = |img: &RgbImage, xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| img.pixel(x, y).is_some_and(|p| p != white))
            .count()
    };
    let chart = line_chart(vec![Series::new("first", vec![(0.0, 1.0), (1.0, 2.0)])]);
    let (img, area) = (chart.render().unwrap(), chart.area().unwrap());
    // Title band (above the y label), the y label line, the x tick labels
    // and x label under the axis, and the legend: each has drawn text.
    assert!(ink(&img, 0..img.width(), 0..22) > 40);
    assert!(ink(&img, 0..area.left + 40, area.top - 20..area.top - 2) > 5);
    assert!(
        ink(
            &img,
            area.left..area.left + area.width,
            plot_bottom(&area) + 6..plot_bottom(&area) + 22
        ) > 20
    );
    assert!(ink(&img, 30..img.width(), img.height() - 22..img.height()) > 20);
    // Without a title the band is blank.
    let untitled = LineChart {
        title: String::new(),
        ..chart
    };
    let img = untitled.render().unwrap();
    assert_eq!(ink(&img, 0..img.width(), 0..8), 0);
}
