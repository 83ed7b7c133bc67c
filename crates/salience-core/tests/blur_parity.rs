//! `salience_core::blur::GaussianBlur` against torchvision's
//! `transforms.functional.gaussian_blur` (reflect border), on the fixture
//! written by `scripts/parity/blur_fixture.py`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use salience_core::blur::GaussianBlur;
use salience_core::npy::read_array;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/blur")
        .join(name)
}

#[test]
fn gaussian_blur_matches_torchvision_to_1e_6() {
    // The cases of scripts/parity/blur_fixture.py: name, σ, kernel side.
    let cases = [
        ("rise_3x16x16", 5.0f32, 11usize),
        ("small_1x7x9", 1.5, 5),
        ("wide_kernel_2x13x12", 20.0, 23),
        ("identity_1x4x5", 1.0, 1),
    ];
    for (name, sigma, k) in cases {
        let x = read_array(fixture(&format!("{name}.input.npy"))).unwrap();
        let want = read_array(fixture(&format!("{name}.expected.npy"))).unwrap();
        // [C, H, W] → a batch of one.
        let batch = x.clone().insert_axis(ndarray::Axis(0));
        let got = GaussianBlur::new(sigma, k)
            .unwrap()
            .apply(batch.view())
            .unwrap()
            .index_axis_move(ndarray::Axis(0), 0);
        assert_eq!(got.shape(), want.shape(), "{name}");
        let err = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err <= 1e-6, "{name}: max |Δ| = {err}");
        if k == 1 {
            assert_eq!(got, x, "kernel 1 is the identity");
        }
    }
}
