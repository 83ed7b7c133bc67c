//! [`Validate`] for every explainer config: the parameter checks that
//! need no input, run when a config is built from data
//! ([`salience_core::spec::config_from`], the [registry](crate::registry))
//! so that bad parameters fail at parse time. The explainers still check
//! what depends on the input (window sizes against the image, grid
//! against H and W, …) when they run.
//!
//! Batch sizes: every explainer's `batch_size` is a
//! [`salience_core::BatchSize`], `auto` (the default: the largest chunk
//! within the memory budget, [`salience_core::batch`]) or a positive
//! integer; 0 is rejected when the config is parsed, so no `Validate`
//! impl checks it.

use crate::cam::attention::{AttentionRolloutConfig, GradientRolloutConfig};
use crate::cam::eigen_cam::EigenCamConfig;
use crate::cam::grad_cam::GradCamConfig;
use crate::cam::poly_cam::PolyCamConfig;
use crate::gradient::expected_gradients::{ExpectedGradientsConfig, References};
use crate::gradient::integrated_gradients::IntegratedGradientsConfig;
use crate::gradient::saliency::SaliencyConfig;
use crate::igos::IGosConfig;
use crate::noise::noise_tunnel::{NoiseScale, NoiseTunnelConfig};
use crate::rules::deeplift::DeepLiftConfig;
use salience_core::spec::Validate;
use salience_core::validate::check_count;
use salience_core::{Result, SalienceError};

fn finite_nonneg(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(SalienceError::invalid(name, v, "must be finite and >= 0"))
    }
}

fn nonempty(name: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(SalienceError::invalid(name, "<empty>", "must name a layer"));
    }
    Ok(())
}

impl Validate for SaliencyConfig {
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

impl Validate for IntegratedGradientsConfig {
    fn validate(&self) -> Result<()> {
        check_count("n_steps", self.n_steps)?;
        self.baseline.validate()
    }
}

impl Validate for NoiseTunnelConfig {
    fn validate(&self) -> Result<()> {
        check_count("n_samples", self.n_samples)?;
        let (NoiseScale::Absolute(s) | NoiseScale::Relative(s)) = self.noise;
        finite_nonneg("sigma", s.into())
    }
}

impl Validate for ExpectedGradientsConfig {
    fn validate(&self) -> Result<()> {
        check_count("n_samples", self.n_samples)?;
        check_count("n_steps", self.n_steps)?;
        finite_nonneg("noise_std", self.noise_std.into())?;
        match &self.references {
            References::Generated(b) => b.validate(),
            References::Samples(_) => Ok(()),
        }
    }
}

impl Validate for GradCamConfig {
    fn validate(&self) -> Result<()> {
        nonempty("layer", &self.layer)
    }
}

impl Validate for EigenCamConfig {
    fn validate(&self) -> Result<()> {
        nonempty("layer", &self.layer)
    }
}

impl Validate for PolyCamConfig {
    fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(SalienceError::invalid(
                "layers",
                "[]",
                "needs at least one layer",
            ));
        }
        for l in &self.layers {
            nonempty("layers", l)?;
        }
        Ok(())
    }
}

impl Validate for IGosConfig {
    fn validate(&self) -> Result<()> {
        self.check()?;
        self.baseline.validate()
    }
}

impl Validate for AttentionRolloutConfig {
    fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.discard_ratio) {
            return Err(SalienceError::invalid(
                "discard_ratio",
                self.discard_ratio,
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

impl Validate for GradientRolloutConfig {
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

impl Validate for DeepLiftConfig {
    fn validate(&self) -> Result<()> {
        self.baseline.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salience_perturb::{
        Baseline, FeatureAblationConfig, FeatureMask, KernelShapConfig, LimeConfig,
        OcclusionConfig, RiseConfig, ShapleySamplingConfig,
    };

    #[test]
    fn validate_rejects_bad_parameters() {
        let bad: Vec<(&str, Box<dyn Validate>)> = vec![
            (
                "n_steps",
                Box::new(IntegratedGradientsConfig {
                    n_steps: 0,
                    ..Default::default()
                }),
            ),
            (
                "sigma",
                Box::new(IntegratedGradientsConfig {
                    baseline: Baseline::Blur {
                        sigma: -1.0,
                        kernel_size: 3,
                    },
                    ..Default::default()
                }),
            ),
            (
                "kernel_size",
                Box::new(IntegratedGradientsConfig {
                    baseline: Baseline::Blur {
                        sigma: 1.0,
                        kernel_size: 4,
                    },
                    ..Default::default()
                }),
            ),
            (
                "p_keep",
                Box::new(RiseConfig {
                    p_keep: 1.0,
                    ..Default::default()
                }),
            ),
            (
                "sigma",
                Box::new(NoiseTunnelConfig {
                    noise: NoiseScale::Absolute(f32::NAN),
                    ..Default::default()
                }),
            ),
            (
                "window/strides",
                Box::new(OcclusionConfig {
                    strides: vec![1],
                    ..Default::default()
                }),
            ),
            ("layers", Box::new(PolyCamConfig::new(&[]))),
            ("layer", Box::new(GradCamConfig::new(" "))),
            (
                "discard_ratio",
                Box::new(AttentionRolloutConfig {
                    discard_ratio: 1.0,
                    ..Default::default()
                }),
            ),
            (
                "decay",
                Box::new(IGosConfig {
                    decay: 1.5,
                    ..Default::default()
                }),
            ),
        ];
        for (name, cfg) in bad {
            match cfg.validate() {
                Err(SalienceError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        // Every method's batch size defaults to auto (a batch size of 0,
        // formerly rejected here for the gradient methods and read as auto
        // by the perturbation methods, cannot be built any more: see
        // `batch_size_is_auto_or_a_positive_integer_in_every_config`).
        assert!(OcclusionConfig::default().validate().is_ok());
        assert!(LimeConfig::default().validate().is_ok());
        assert!(IGosConfig::khorram2021().validate().is_ok());
    }

    /// Issue 20 item 3: one batch-size type. Every explainer config reads
    /// `batch_size` as `auto` or a positive integer (spec text and JSON)
    /// and rejects 0 when it is read, naming the key.
    #[test]
    fn batch_size_is_auto_or_a_positive_integer_in_every_config() {
        use salience_core::spec::config_from;
        use salience_core::BatchSize;
        fn check<T>(name: &str, preset: T, get: fn(&T) -> BatchSize)
        where
            T: serde::Serialize + serde::de::DeserializeOwned + Validate,
        {
            let kv = |v: &str| vec![("batch_size".to_string(), v.to_string())];
            assert_eq!(get(&preset), BatchSize::Auto, "{name}: default");
            let c = config_from(name, &preset, &kv("16")).unwrap();
            assert_eq!(get(&c), BatchSize::fixed(16).unwrap(), "{name}");
            let c = config_from(name, &c, &kv("auto")).unwrap();
            assert_eq!(get(&c), BatchSize::Auto, "{name}");
            let json = salience_core::spec::to_json(&preset).unwrap();
            let compact: String = json.split_whitespace().collect();
            assert!(compact.contains(r#""batch_size":"auto""#), "{name}: {json}");
            for bad in ["0", "-1", "lots"] {
                match config_from(name, &preset, &kv(bad)) {
                    Err(SalienceError::InvalidParameter { name: key, .. }) => {
                        assert_eq!(key, "batch_size", "{name}")
                    }
                    other => panic!("{name} batch_size={bad}: {:?}", other.is_ok()),
                }
            }
        }
        check("saliency", SaliencyConfig::default(), |c| c.batch_size);
        check("ig", IntegratedGradientsConfig::default(), |c| c.batch_size);
        check("smoothgrad", NoiseTunnelConfig::default(), |c| c.batch_size);
        check("eg", ExpectedGradientsConfig::default(), |c| c.batch_size);
        check("grad_cam", GradCamConfig::new("conv"), |c| c.batch_size);
        check("eigen_cam", EigenCamConfig::paper("conv"), |c| c.batch_size);
        check("poly_cam", PolyCamConfig::new(&["a"]), |c| c.batch_size);
        check("igos_pp", IGosConfig::default(), |c| c.batch_size);
        check("rollout", AttentionRolloutConfig::default(), |c| {
            c.batch_size
        });
        check("gradient_rollout", GradientRolloutConfig::default(), |c| {
            c.batch_size
        });
        check("deeplift", DeepLiftConfig::default(), |c| c.batch_size);
        check("occlusion", OcclusionConfig::default(), |c| c.batch_size);
        check("lime", LimeConfig::default(), |c| c.batch_size);
        check("rise", RiseConfig::default(), |c| c.batch_size);
    }

    fn round_trip<T>(c: T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Validate,
    {
        let text = salience_core::spec::to_json(&c).unwrap();
        let back: T = salience_core::spec::from_json(&text).unwrap();
        assert_eq!(back, c, "{text}");
    }

    #[test]
    fn configs_round_trip_through_json() {
        use salience_perturb::{LimeKernel, SlicConfig, Surrogate};
        round_trip(SaliencyConfig::captum());
        round_trip(IntegratedGradientsConfig::zennit());
        round_trip(IntegratedGradientsConfig {
            baseline: Baseline::PerChannel(vec![0.5, -1.25]),
            ..IntegratedGradientsConfig::mahlau2022()
        });
        round_trip(NoiseTunnelConfig::zennit());
        round_trip(ExpectedGradientsConfig::captum());
        round_trip(GradCamConfig::captum("conv2"));
        round_trip(EigenCamConfig::paper("conv2"));
        round_trip(PolyCamConfig::new(&["a", "b"]));
        round_trip(OcclusionConfig::quantus());
        round_trip(FeatureAblationConfig::decker2024());
        round_trip(ShapleySamplingConfig::decker2024());
        round_trip(KernelShapConfig {
            feature_mask: FeatureMask::Slic(SlicConfig::default()),
            ..Default::default()
        });
        round_trip(LimeConfig {
            kernel: LimeKernel::tabular(),
            surrogate: Surrogate::Ridge { lambda: 0.3 },
            ..LimeConfig::captum()
        });
        round_trip(RiseConfig::mahlau2022());
        round_trip(IGosConfig::khorram2021());
        round_trip(AttentionRolloutConfig::default());
        round_trip(GradientRolloutConfig::default());
        round_trip(DeepLiftConfig::default());
    }

    #[test]
    fn unknown_fields_are_errors() {
        for text in [
            r#"{"abs": true, "bogus": 1}"#,
            r#"{"baseline": {"blur": {"sigma": 1, "kernel_size": 3, "extra": 0}}}"#,
            r#"{"baseline": "purple"}"#,
        ] {
            assert!(
                salience_core::spec::from_json::<SaliencyConfig>(text).is_err(),
                "{text}"
            );
            assert!(
                salience_core::spec::from_json::<IntegratedGradientsConfig>(text).is_err(),
                "{text}"
            );
        }
        // Missing keys take the Default (serde(default)).
        let c: IntegratedGradientsConfig =
            salience_core::spec::from_json(r#"{"n_steps": 8}"#).unwrap();
        assert_eq!(
            c,
            IntegratedGradientsConfig {
                n_steps: 8,
                ..Default::default()
            }
        );
        // Tensor-valued variants cannot be written as data: a typed error.
        let given = IntegratedGradientsConfig {
            baseline: Baseline::Given(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1]))),
            ..Default::default()
        };
        assert!(salience_core::spec::to_json(&given).is_err());
    }
}
