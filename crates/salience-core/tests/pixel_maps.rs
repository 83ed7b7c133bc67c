//! `PixelMaps`: channel reduction of image maps, pass-through of pixel maps,
//! seeds and targets forwarded unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array3, Array4, ArrayViewD};
use salience_core::{AttributionBatch, ChannelReduction, Explainer, PixelMaps, Seeds};

/// Returns x·(target + 1) + seed of the sample, input-shaped or, with
/// `pixel`, the first channel only.
struct Probe {
    pixel: bool,
}

impl Explainer for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> salience_core::Result<AttributionBatch> {
        let x = x.into_dimensionality::<ndarray::Ix4>().unwrap();
        let (n, c, h, w) = x.dim();
        let f = |i: usize, v: f32| v * (targets[i] + 1) as f32 + seeds.for_sample(i) as f32;
        if self.pixel {
            Ok(AttributionBatch::from_pixel_maps(Array3::from_shape_fn(
                (n, h, w),
                |(i, y, z)| f(i, x[[i, 0, y, z]]),
            ))?)
        } else {
            let _ = c;
            Ok(AttributionBatch::from_images(Array4::from_shape_fn(
                x.dim(),
                |(i, ch, y, z)| f(i, x[[i, ch, y, z]]),
            ))?)
        }
    }
}

fn inputs() -> Array4<f32> {
    Array4::from_shape_fn((2, 3, 2, 2), |(i, c, y, z)| {
        (i as f32 + 1.0) * if c == 1 { -1.0 } else { 0.5 } * (1 + y + z) as f32
    })
}

#[test]
fn reduces_image_maps_with_the_chosen_reduction() {
    let x = inputs().into_dyn();
    let seeds = [10u64, 20];
    let raw = Probe { pixel: false }
        .explain(x.view(), &[0, 2], Seeds::per_sample(&seeds))
        .unwrap();
    for reduction in [
        ChannelReduction::Sum,
        ChannelReduction::SumAbs,
        ChannelReduction::MaxAbs,
    ] {
        let e = PixelMaps::new(Probe { pixel: false }, reduction);
        let maps = e
            .explain(x.view(), &[0, 2], Seeds::per_sample(&seeds))
            .unwrap();
        assert_eq!(maps.shape(), &[2, 2, 2]);
        assert_eq!(maps, raw.reduce_channels(reduction).unwrap());
    }
    // Sum by hand for sample 1, pixel (0, 0): x = 2·(0.5, −1, 0.5) → target 2
    // scales by 3, seed 20 is added per channel: 3·(1 − 2 + 1) + 3·20 = 60.
    let sum = PixelMaps::new(Probe { pixel: false }, ChannelReduction::Sum)
        .explain(x.view(), &[0, 2], Seeds::per_sample(&seeds))
        .unwrap();
    assert_eq!(sum.view()[[1, 0, 0]], 60.0);
}

#[test]
fn pixel_maps_pass_through() {
    let x = inputs().into_dyn();
    let direct = Probe { pixel: true }
        .explain(x.view(), &[1, 1], Seeds::base(3))
        .unwrap();
    let wrapped = PixelMaps::new(Probe { pixel: true }, ChannelReduction::SumAbs)
        .explain(x.view(), &[1, 1], Seeds::base(3))
        .unwrap();
    assert_eq!(wrapped, direct);
    assert_eq!(
        PixelMaps::new(Probe { pixel: true }, ChannelReduction::Sum).name(),
        "probe"
    );
}
