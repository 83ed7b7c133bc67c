//! JPEG decoding against torchvision's `decode_image` (libjpeg-turbo) and
//! Pillow on the files of `tests/fixtures/jpeg` (written with the expected
//! bytes by `scripts/parity/jpeg_decode.py`): chroma 4:2:0 / 4:2:2 /
//! 4:4:4, greyscale, progressive, restart markers, optimized Huffman
//! tables, odd sizes down to 1 × 1. `load_image` must give torchvision's
//! bytes exactly. Run with `--nocapture` to see, next to it, how far the
//! `image` crate's decoder (zune-jpeg, used before) is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use image::ImageReader;
use salience_datasets::{decode_image, load_image, ColorMode, LoadOptions};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg")
}

struct Case {
    name: String,
    shape: [usize; 3],
    grey: bool,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest");
    let m: serde_json::Value = serde_json::from_str(&text).expect("json");
    m["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let s: Vec<usize> = f["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|x| x.as_u64().expect("dim") as usize)
                .collect();
            Case {
                name: f["name"].as_str().expect("name").to_string(),
                shape: [s[0], s[1], s[2]],
                grey: f["grey"].as_bool().expect("grey"),
            }
        })
        .collect()
}

fn expected(case: &Case, which: &str) -> Vec<u8> {
    let stem = case.name.trim_end_matches(".jpg");
    let v = std::fs::read(dir().join(format!("{stem}.{which}.u8"))).expect("expected bytes");
    assert_eq!(v.len(), case.shape.iter().product::<usize>());
    v
}

fn options(case: &Case) -> LoadOptions {
    LoadOptions {
        color: if case.grey {
            ColorMode::Gray
        } else {
            ColorMode::Rgb
        },
        ..LoadOptions::default()
    }
}

/// (max, count of differing bytes)
fn diff(a: &[u8], b: &[u8]) -> (u8, usize) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold((0, 0), |(m, n), (x, y)| {
        let d = x.abs_diff(*y);
        (m.max(d), n + usize::from(d > 0))
    })
}

/// The image crate's (zune-jpeg's) decoding, C, H, W bytes.
fn zune(case: &Case) -> Vec<u8> {
    let img = ImageReader::open(dir().join(&case.name))
        .expect("open")
        .decode()
        .expect("zune-jpeg decodes");
    let (w, h) = (img.width() as usize, img.height() as usize);
    let c = case.shape[0];
    let raw = if case.grey {
        img.to_luma8().into_raw()
    } else {
        img.to_rgb8().into_raw()
    };
    let mut out = vec![0u8; c * h * w];
    for (i, px) in raw.chunks_exact(c).enumerate() {
        for (k, &v) in px.iter().enumerate() {
            out[k * h * w + i] = v;
        }
    }
    out
}

#[test]
fn jpeg_decoding_matches_torchvision_byte_for_byte() {
    let cases = cases();
    assert!(cases.len() >= 15);
    for case in &cases {
        let img = load_image(dir().join(&case.name), &options(case)).expect("decodes");
        assert_eq!(img.shape(), &case.shape, "{}", case.name);
        // load_image returns byte / 255 exactly: back to bytes
        let got: Vec<u8> = img.iter().map(|&v| (v * 255.0).round() as u8).collect();
        assert!(img
            .iter()
            .zip(&got)
            .all(|(&v, &b)| v == f32::from(b) / 255.0));
        let (tv_max, tv_n) = diff(&got, &expected(case, "tv"));
        let (pil_max, _) = diff(&got, &expected(case, "pil"));
        let (zune_max, zune_n) = diff(&zune(case), &expected(case, "tv"));
        println!(
            "{}: |salience - torchvision| max {tv_max}/255 ({tv_n} bytes differ), \
             |salience - Pillow| max {pil_max}/255; zune-jpeg vs torchvision max {zune_max}/255 \
             ({zune_n} of {} bytes differ)",
            case.name,
            got.len()
        );
        assert_eq!(
            tv_max, 0,
            "{}: {tv_n} bytes differ from torchvision",
            case.name
        );
        assert_eq!(pil_max, 0, "{}: differs from Pillow", case.name);
    }
}

/// A grey JPEG read as RGB is its grey value three times (libjpeg's
/// grey → RGB), and decoding from memory gives what the file gives.
#[test]
fn grey_jpeg_as_rgb_and_from_memory() {
    for case in cases().iter().filter(|c| c.grey) {
        let rgb = load_image(dir().join(&case.name), &LoadOptions::default()).expect("rgb");
        let [_, h, w] = case.shape;
        assert_eq!(rgb.shape(), &[3, h, w]);
        let want = expected(case, "tv");
        for c in 0..3 {
            let plane: Vec<u8> = rgb
                .index_axis(ndarray::Axis(0), c)
                .iter()
                .map(|&v| (v * 255.0).round() as u8)
                .collect();
            assert_eq!(plane, want, "{} channel {c}", case.name);
        }
    }
    let case = &cases()[0];
    let bytes = std::fs::read(dir().join(&case.name)).expect("bytes");
    let a = decode_image(&bytes, &case.name, &options(case)).expect("memory");
    let b = load_image(dir().join(&case.name), &options(case)).expect("file");
    assert_eq!(a, b);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use salience_core::SalienceError;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(96)))]

        /// Damaged baseline, progressive and restart-marker files (bytes
        /// overwritten anywhere, the end-of-image marker kept) decode to an
        /// image of the header's size in [0, 1] or a typed error: never a
        /// panic.
        #[test]
        fn damaged_jpegs_never_panic(
            file in 0usize..15,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        ) {
            let cases = cases();
            let case = &cases[file % cases.len()];
            let mut bytes = std::fs::read(dir().join(&case.name)).unwrap();
            let n = bytes.len();
            for (at, v) in edits {
                let i = at.index(n - 2);
                bytes[i] = v;
            }
            match decode_image(&bytes, &case.name, &options(case)) {
                Ok(x) => prop_assert!(x.iter().all(|v| (0.0..=1.0).contains(v))),
                Err(e) => prop_assert!(matches!(e, SalienceError::Image { .. } | SalienceError::Io { .. }), "{e:?}"),
            }
        }
    }
}
