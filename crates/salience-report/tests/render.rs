//! Tests of `salience_report::render`: colormap endpoints, overlays, grid
//! geometry, nearest upscaling and a PNG round trip through the `png`
//! decoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{array, Array2};
use salience_core::SalienceError;
use salience_report::render::{
    colorize, gray_image, grid, heatmap, normalize_signed, normalize_unsigned, overlay,
    overlay_weighted, upscale_nearest, Colormap, MapSign, RgbImage,
};

#[test]
fn colormap_endpoints_and_midpoints() {
    // matplotlib viridis(0), viridis(0.5), viridis(1).
    assert_eq!(Colormap::Viridis.color(0.0), [68, 1, 84]);
    assert_eq!(Colormap::Viridis.color(0.5), [33, 145, 140]);
    assert_eq!(Colormap::Viridis.color(1.0), [253, 231, 37]);
    // RdBu_r: blue, near-white, red.
    assert_eq!(Colormap::Diverging.color(0.0), [5, 48, 97]);
    assert_eq!(Colormap::Diverging.color(0.5), [247, 247, 247]);
    assert_eq!(Colormap::Diverging.color(1.0), [103, 0, 31]);
    // Clamping and NaN.
    assert_eq!(Colormap::Viridis.color(7.0), Colormap::Viridis.color(1.0));
    assert_eq!(Colormap::Viridis.color(-1.0), Colormap::Viridis.color(0.0));
    assert_eq!(
        Colormap::Viridis.color(f32::NAN),
        Colormap::Viridis.color(0.0)
    );
    // Halfway between two stops is their rounded mean.
    assert_eq!(Colormap::Viridis.color(0.05), [70, 19, 101]);
    assert_eq!(Colormap::Gray.color(0.5), [128, 128, 128]);
}

#[test]
fn viridis_is_monotone_in_lightness() {
    // A perceptual sequential map gets lighter from 0 to 1 (Rec. 709 luma).
    let luma = |c: [u8; 3]| 0.2126 * c[0] as f64 + 0.7152 * c[1] as f64 + 0.0722 * c[2] as f64;
    let mut last = -1.0;
    for i in 0..=100 {
        let l = luma(Colormap::Viridis.color(i as f32 / 100.0));
        assert!(l >= last - 0.5, "luma drops at {i}: {l} < {last}");
        last = l;
    }
}

#[test]
fn signed_normalization_keeps_zero_and_clips_outliers() {
    // 100 values: 99 of magnitude ≤ 1 and one outlier of 100.
    let mut m = Array2::<f32>::from_shape_fn((10, 10), |(i, j)| ((i * 10 + j) as f32 / 99.0) - 0.5);
    m[[9, 9]] = 100.0;
    m[[0, 0]] = 0.0;
    let n = normalize_signed(m.view(), 98.0).unwrap();
    assert_eq!(n[[0, 0]], 0.0);
    assert_eq!(n[[9, 9]], 1.0);
    assert!(n.iter().all(|v| (-1.0..=1.0).contains(v)));
    // Without clipping, the outlier would squash everything to ~0.
    let raw = normalize_signed(m.view(), 100.0).unwrap();
    assert!(raw[[5, 5]].abs() < 0.01);
    assert!(n[[5, 5]].abs() > 0.05);
    // Sign is preserved.
    assert!(n[[1, 0]] < 0.0 && n[[8, 0]] > 0.0);
}

#[test]
fn degenerate_maps_render_neutral_and_bad_maps_are_errors() {
    let zeros = Array2::<f32>::zeros((3, 3));
    assert!(normalize_signed(zeros.view(), 99.0)
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
    let constant = Array2::<f32>::from_elem((3, 3), 2.0);
    assert!(normalize_unsigned(constant.view(), 99.0)
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
    let img = heatmap(zeros.view(), MapSign::Signed, 99.0).unwrap();
    assert!(img.as_raw().chunks(3).all(|p| p == [247, 247, 247]));

    let nan = array![[1.0f32, f32::NAN]];
    assert!(matches!(
        heatmap(nan.view(), MapSign::Unsigned, 99.0),
        Err(SalienceError::NonFinite { index: 1, .. })
    ));
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(matches!(
        colorize(empty.view(), Colormap::Gray),
        Err(SalienceError::Empty(_))
    ));
    assert!(normalize_unsigned(constant.view(), 101.0).is_err());
}

#[test]
fn overlay_alpha_zero_is_base_and_one_is_top() {
    let base = gray_image(array![[0.0f32, 0.5], [1.0, 0.25]].view()).unwrap();
    let top = heatmap(
        array![[-1.0f32, 0.3], [2.0, 0.0]].view(),
        MapSign::Signed,
        100.0,
    )
    .unwrap();
    assert_eq!(overlay(&base, &top, 0.0).unwrap(), base);
    assert_eq!(overlay(&base, &top, 1.0).unwrap(), top);
    // α = 0.25 on black under white: round(0.25·255) = 64.
    let black = RgbImage::filled(1, 1, [0, 0, 0]).unwrap();
    let white = RgbImage::filled(1, 1, [255, 255, 255]).unwrap();
    assert_eq!(
        overlay(&black, &white, 0.25).unwrap().pixel(0, 0),
        Some([64, 64, 64])
    );
    // Mismatched sizes and bad α are typed errors.
    let small = RgbImage::filled(1, 2, [0, 0, 0]).unwrap();
    assert!(matches!(
        overlay(&base, &small, 0.5),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        overlay(&base, &top, f32::NAN),
        Err(SalienceError::InvalidParameter { .. })
    ));
}

#[test]
fn grid_geometry_places_tiles_with_padding() {
    let colors = [
        [10, 0, 0],
        [0, 20, 0],
        [0, 0, 30],
        [40, 40, 40],
        [50, 0, 50],
    ];
    let tiles: Vec<RgbImage> = colors
        .iter()
        .map(|&c| RgbImage::filled(3, 2, c).unwrap())
        .collect();
    let (pad, bg) = (2, [255, 255, 255]);
    let g = grid(&tiles, 3, pad, bg).unwrap();
    // 3 columns, 2 rows.
    assert_eq!(g.width(), 3 * 3 + 4 * pad);
    assert_eq!(g.height(), 2 * 2 + 3 * pad);
    for (k, c) in colors.iter().enumerate() {
        let (x0, y0) = (pad + (k % 3) * (3 + pad), pad + (k / 3) * (2 + pad));
        for dy in 0..2 {
            for dx in 0..3 {
                assert_eq!(g.pixel(x0 + dx, y0 + dy), Some(*c), "tile {k}");
            }
        }
        // Padding just left of and above each tile.
        assert_eq!(g.pixel(x0 - 1, y0), Some(bg));
        assert_eq!(g.pixel(x0, y0 - 1), Some(bg));
    }
    // The empty sixth cell is background.
    assert_eq!(g.pixel(pad + 2 * (3 + pad), pad + 2 + pad), Some(bg));
    // Single column.
    let col = grid(&tiles[..2], 1, 0, bg).unwrap();
    assert_eq!((col.width(), col.height()), (3, 4));
    assert_eq!(col.pixel(0, 3), Some(colors[1]));
    // Errors: no tiles, zero columns, mixed sizes.
    assert!(matches!(grid(&[], 2, 1, bg), Err(SalienceError::Empty(_))));
    assert!(grid(&tiles, 0, 1, bg).is_err());
    let odd = vec![tiles[0].clone(), RgbImage::filled(2, 2, bg).unwrap()];
    assert!(matches!(
        grid(&odd, 2, 1, bg),
        Err(SalienceError::ShapeMismatch { .. })
    ));
}

#[test]
fn nearest_upscaling_repeats_pixels() {
    let img = RgbImage::from_raw(2, 2, (0u8..12).collect()).unwrap();
    let big = upscale_nearest(&img, 4).unwrap();
    assert_eq!((big.width(), big.height()), (8, 8));
    for y in 0..8 {
        for x in 0..8 {
            assert_eq!(big.pixel(x, y), img.pixel(x / 4, y / 4));
        }
    }
    assert_eq!(upscale_nearest(&img, 1).unwrap(), img);
}

#[test]
fn png_round_trip_matches_pixels() {
    let map = Array2::from_shape_fn((28, 28), |(i, j)| (i as f32 - 13.5) * (j as f32 - 8.0));
    let img = upscale_nearest(&heatmap(map.view(), MapSign::Signed, 99.0).unwrap(), 2).unwrap();
    let bytes = img.to_png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (56, 56));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(&buf[..info.buffer_size()], img.as_raw());

    // Through a file too.
    let path =
        std::env::temp_dir().join(format!("salience_render_test_{}.png", std::process::id()));
    img.write_png(&path).unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf2 = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf2).unwrap();
    assert_eq!(buf2, buf);
    std::fs::remove_file(&path).unwrap();
    // A path in a missing directory is an Io error.
    assert!(matches!(
        img.write_png("/nonexistent-dir/x.png"),
        Err(SalienceError::Io { .. })
    ));
}

#[test]
fn weighted_overlay_follows_the_weights() {
    let base = gray_image(array![[0.2f32, 0.4], [0.6, 0.8]].view()).unwrap();
    let top = heatmap(
        array![[-1.0f32, 0.5], [1.0, 0.0]].view(),
        MapSign::Signed,
        100.0,
    )
    .unwrap();
    // Zero weights: the base; unit weights with max α = 1: the top.
    let zeros = Array2::<f32>::zeros((2, 2));
    let ones = Array2::<f32>::ones((2, 2));
    assert_eq!(
        overlay_weighted(&base, &top, zeros.view(), 0.8).unwrap(),
        base
    );
    assert_eq!(
        overlay_weighted(&base, &top, ones.view(), 1.0).unwrap(),
        top
    );
    // Constant weights w give the plain overlay with α = max_alpha · w.
    let half = Array2::<f32>::from_elem((2, 2), 0.5);
    assert_eq!(
        overlay_weighted(&base, &top, half.view(), 0.6).unwrap(),
        overlay(&base, &top, 0.3).unwrap()
    );
    // Per pixel: only the weighted pixel changes; weights are clamped.
    let w = array![[0.0f32, 0.0], [0.0, 7.0]];
    let out = overlay_weighted(&base, &top, w.view(), 1.0).unwrap();
    assert_eq!(out.pixel(0, 0), base.pixel(0, 0));
    assert_eq!(out.pixel(1, 1), top.pixel(1, 1));
    // Wrong weight shape (transposed), NaN weights, bad α.
    let wide = Array2::<f32>::zeros((1, 4));
    assert!(matches!(
        overlay_weighted(&base, &top, wide.view(), 0.5),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let nan = array![[0.0f32, f32::NAN], [0.0, 0.0]];
    assert!(matches!(
        overlay_weighted(&base, &top, nan.view(), 0.5),
        Err(SalienceError::NonFinite { .. })
    ));
    assert!(overlay_weighted(&base, &top, ones.view(), -0.1).is_err());
}

/// Issue 19: `RgbImage::filled(usize::MAX, 2, c)` overflowed capacity;
/// sizes are now bounded by `MAX_IMAGE_PIXELS` before allocating.
#[test]
fn image_sizes_are_bounded_before_allocating() {
    use salience_core::SalienceError;
    use salience_report::render::{grid, upscale_nearest, RgbImage, MAX_IMAGE_PIXELS};
    for (w, h) in [
        (usize::MAX, 2),
        (2, usize::MAX),
        (1 << 32, 1 << 32),
        (MAX_IMAGE_PIXELS + 1, 1),
    ] {
        match RgbImage::filled(w, h, [1, 2, 3]) {
            Err(SalienceError::InvalidParameter { reason, .. }) => {
                assert!(reason.contains("MAX_IMAGE_PIXELS"), "{reason}")
            }
            other => panic!("{w}x{h}: {other:?}"),
        }
        assert!(RgbImage::from_raw(w, h, vec![0; 6]).is_err());
    }
    assert!(RgbImage::filled(MAX_IMAGE_PIXELS, 1, [0; 3]).is_ok_and(|i| i.width() == 1 << 28));
    let t = RgbImage::filled(2, 2, [0; 3]).unwrap();
    assert!(grid(std::slice::from_ref(&t), 1, usize::MAX, [0; 3]).is_err());
    assert!(grid(std::slice::from_ref(&t), 1, 1 << 20, [0; 3]).is_err());
    let wide = RgbImage::filled(1 << 14, 1 << 10, [0; 3]).unwrap();
    assert!(upscale_nearest(&wide, 64).is_err());
    assert_eq!(upscale_nearest(&t, 64).unwrap().width(), 128);
}

/// Issue 19: `normalize_unsigned` on ±f32::MAX returned non-finite values
/// (hi − lo overflowed f32).
#[test]
fn normalize_unsigned_of_extreme_values_is_finite() {
    use salience_report::render::{normalize_signed, normalize_unsigned};
    let m = ndarray::array![[-f32::MAX, 0.0], [f32::MAX, f32::MAX]];
    let n = normalize_unsigned(m.view(), 100.0).unwrap();
    assert_eq!(n, ndarray::array![[0.0, 0.5], [1.0, 1.0]]);
    // 50th percentile of 4 values interpolates between 0 and MAX.
    let n = normalize_unsigned(m.view(), 50.0).unwrap();
    assert!(n.iter().all(|v| v.is_finite()), "{n:?}");
    let s = normalize_signed(m.view(), 100.0).unwrap();
    assert_eq!(s, ndarray::array![[-1.0, 0.0], [1.0, 1.0]]);
}

mod fuzz {
    use proptest::prelude::*;
    use salience_report::render::{
        colorize, grid, heatmap, normalize_signed, normalize_unsigned, upscale_nearest, Colormap,
        MapSign, RgbImage,
    };

    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            -10.0f32..10.0,
            Just(f32::MAX),
            Just(-f32::MAX),
            Just(f32::MIN_POSITIVE),
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(0.0),
        ]
    }

    fn side() -> impl Strategy<Value = usize> {
        prop_oneof![
            0usize..6,
            Just(usize::MAX),
            Just(1usize << 32),
            any::<usize>()
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(256)))]

        /// Arbitrary sizes: an image of that size, or a typed error.
        #[test]
        fn sizes_never_panic(w in side(), h in side(), f in side(), pad in side(), cols in side()) {
            match RgbImage::filled(w, h, [9, 9, 9]) {
                Ok(img) => {
                    prop_assert_eq!(img.as_raw().len(), w * h * 3);
                    if let Ok(u) = upscale_nearest(&img, f) {
                        prop_assert_eq!((u.width(), u.height()), (w * f, h * f));
                    }
                    let _ = grid(&[img.clone(), img], cols, pad, [0; 3]);
                }
                Err(_) => prop_assert!(w == 0 || h == 0 || w.saturating_mul(h) > 1 << 28),
            }
        }

        /// Arbitrary values: normalized maps lie in their range, or a typed
        /// error for non-finite input.
        #[test]
        fn normalizing_and_coloring_never_panic(
            v in proptest::collection::vec(value(), 1..30),
            cols in 1usize..6,
            q in prop_oneof![0.0f64..=100.0, Just(f64::NAN), Just(-1.0), Just(1e300)],
        ) {
            let w = cols.min(v.len());
            let h = v.len() / w;
            let m = ndarray::Array2::from_shape_vec((h, w), v[..h * w].to_vec()).unwrap();
            let finite = m.iter().all(|x| x.is_finite());
            let q_ok = q > 0.0 && q <= 100.0;
            match normalize_unsigned(m.view(), q) {
                Ok(n) => prop_assert!(n.iter().all(|x| (0.0..=1.0).contains(x))),
                Err(_) => prop_assert!(!finite || !q_ok),
            }
            match normalize_signed(m.view(), q) {
                Ok(n) => prop_assert!(n.iter().all(|x| (-1.0..=1.0).contains(x))),
                Err(_) => prop_assert!(!finite || !q_ok),
            }
            prop_assert_eq!(heatmap(m.view(), MapSign::of(m.view()), q).is_ok(), finite && q_ok);
            prop_assert_eq!(colorize(m.view(), Colormap::Viridis).is_ok(), finite);
        }
    }
}
