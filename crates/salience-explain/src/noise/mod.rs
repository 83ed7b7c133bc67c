//! Explainers and explanations built on noise: around the input
//! ([`noise_tunnel`]: SmoothGrad, SmoothGrad², VarGrad) and on the model's
//! weights (Bykov et al. 2022: [`noise_grad`]'s NoiseGrad and FusionGrad,
//! the noise-level heuristic of [`noise_sigma`], and the global
//! explanation of [`activation_max`], optionally averaged over NoiseGrad
//! model draws).

pub mod activation_max;
pub mod noise_grad;
pub mod noise_sigma;
pub mod noise_tunnel;
