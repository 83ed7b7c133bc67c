//! Parity with torchvision's evaluation transform and Pillow's decoders on
//! the images of `tests/fixtures/images` (written, with the expected
//! tensors, by `scripts/parity/torchvision_transform.py`; see its docstring
//! for the file formats). Run with `--nocapture` to see the measured
//! differences.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array3, ArrayView3};
use salience_datasets::{
    load_image, ColorMode, ImageTransform, LoadOptions, Normalize, ResizeArithmetic,
};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn shape(v: &serde_json::Value) -> (usize, usize, usize) {
    let s: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    (s[0], s[1], s[2])
}

fn read_u8(name: &str, shape: (usize, usize, usize)) -> Array3<f32> {
    let bytes = std::fs::read(dir().join("expected").join(name)).unwrap();
    Array3::from_shape_vec(shape, bytes.iter().map(|&b| f32::from(b) / 255.0).collect()).unwrap()
}

fn read_f32(name: &str, shape: (usize, usize, usize)) -> Array3<f32> {
    let bytes = std::fs::read(dir().join("expected").join(name)).unwrap();
    let v = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Array3::from_shape_vec(shape, v).unwrap()
}

fn max_abs(a: ArrayView3<f32>, b: ArrayView3<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn options(mode: &str) -> LoadOptions {
    LoadOptions {
        color: if mode == "L" {
            ColorMode::Gray
        } else {
            ColorMode::Rgb
        },
        ..LoadOptions::default()
    }
}

/// torchvision's `Resize(s)` + `CenterCrop(c)` + `ToTensor()` on PIL
/// images, before normalization: byte for byte on PNG sources (Pillow's
/// 8-bit resampler is reproduced exactly, so well within 1/255). On JPEG
/// sources too, now that the JPEG decoder reproduces libjpeg-turbo
/// (`tests/jpeg_decode.rs`; with zune-jpeg's pixels it was 4/255 with no
/// resize, 2/255 after a resize to 64).
#[test]
fn transform_matches_torchvision_pil_path_within_one_grey_level() {
    let m = manifest();
    for case in m["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let image = case["image"].as_str().unwrap();
        let mode = case["mode"].as_str().unwrap();
        let crop: Vec<usize> = case["crop"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let t = ImageTransform {
            resize_shorter: Some(case["resize"].as_u64().unwrap() as usize),
            center_crop: Some([crop[0], crop[1]]),
            normalize: None,
            arithmetic: ResizeArithmetic::PilUint8,
        };
        let img = load_image(dir().join(image), &options(mode)).unwrap();
        let got = t.apply(img.view()).unwrap();
        let sh = shape(&case["shape"]);
        let want = read_u8(&format!("{name}.u8"), sh);
        let d = max_abs(got.view(), want.view());
        println!(
            "{name}: max |salience - torchvision| = {:.3}/255",
            d * 255.0
        );
        // PNG and (since the libjpeg-turbo-exact decoder) JPEG sources
        // alike; JPEG was 4/255 with zune-jpeg's pixels
        assert_eq!(d, 0.0, "{name}: must match byte for byte");
        if case["floats"].as_bool().unwrap() {
            // the full transform with Normalize
            let tn = ImageTransform {
                normalize: Some(Normalize {
                    mean: m["mean"].as_array().unwrap()[..sh.0]
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                        .collect(),
                    std: m["std"].as_array().unwrap()[..sh.0]
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                        .collect(),
                }),
                ..t.clone()
            };
            let got_n = tn.apply(img.view()).unwrap();
            let want_n = read_f32(&format!("{name}.norm.f32"), sh);
            let dn = max_abs(got_n.view(), want_n.view());
            println!("{name}: normalized, max abs diff {dn:.2e}");
            // JPEG too (was the decoders' 2/255 over the smallest std)
            assert!(dn <= 1e-5, "{name}: normalized {dn}");
            // the tensor path (float arithmetic)
            let tf = ImageTransform {
                arithmetic: ResizeArithmetic::Float,
                ..t.clone()
            };
            let got_f = tf.apply(img.view()).unwrap();
            let want_f = read_f32(&format!("{name}.tensor.f32"), sh);
            let df = max_abs(got_f.view(), want_f.view());
            println!("{name}: tensor path (float), max abs diff {df:.2e}");
            // float rounding only, JPEG too (was 2.5/255 with zune-jpeg)
            assert!(df <= 1e-5, "{name}: tensor path {df}");
        }
    }
}

/// The decoded pixels themselves, against Pillow (libjpeg-turbo) after
/// `convert("RGB")`.
#[test]
fn jpeg_decoding_against_pillow() {
    let m = manifest();
    for d in m["decoded"].as_array().unwrap() {
        let image = d["image"].as_str().unwrap();
        let sh = shape(&d["shape"]);
        let got = load_image(dir().join(image), &LoadOptions::default()).unwrap();
        let want = read_u8(&format!("{image}.decoded.u8"), sh);
        let diff = max_abs(got.view(), want.view());
        let mean = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / got.len() as f32;
        println!(
            "{image} ({}): decoded max |salience - Pillow| = {:.0}/255, mean {:.3}/255",
            d["source_mode"].as_str().unwrap(),
            diff * 255.0,
            mean * 255.0
        );
        let (max_tol, mean_tol) = if d["source_mode"] == "CMYK" {
            // zune-jpeg (CMYK is left to it): 1/255 at most, 0.01/255 on
            // average
            (2.0, 0.1)
        } else {
            // libjpeg-turbo's IDCT, upsampling and colour conversion
            // reproduced (image_file/jpeg.rs): byte for byte (zune-jpeg
            // was 4/255 at most, 0.34/255 on average)
            (0.0, 0.0)
        };
        assert!(diff * 255.0 <= max_tol + 1e-3, "{image}: {}", diff * 255.0);
        assert!(mean * 255.0 <= mean_tol, "{image}: mean {}", mean * 255.0);
    }
}

/// The JPEG gap is the decoder's: run on the pixels Pillow decoded, the
/// transform reproduces torchvision byte for byte.
#[test]
fn jpeg_transform_is_exact_on_pillows_decoded_pixels() {
    let m = manifest();
    let decoded = m["decoded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["image"] == "photo.jpg")
        .unwrap();
    let pil = read_u8("photo.jpg.decoded.u8", shape(&decoded["shape"]));
    for case in m["cases"].as_array().unwrap() {
        if case["image"] != "photo.jpg" {
            continue;
        }
        let crop = &case["crop"];
        let t = ImageTransform {
            resize_shorter: Some(case["resize"].as_u64().unwrap() as usize),
            center_crop: Some([
                crop[0].as_u64().unwrap() as usize,
                crop[1].as_u64().unwrap() as usize,
            ]),
            normalize: None,
            arithmetic: ResizeArithmetic::PilUint8,
        };
        let name = case["case"].as_str().unwrap();
        let want = read_u8(&format!("{name}.u8"), shape(&case["shape"]));
        let got = t.apply(pil.view()).unwrap();
        assert_eq!(max_abs(got.view(), want.view()), 0.0, "{name}");
    }
}
