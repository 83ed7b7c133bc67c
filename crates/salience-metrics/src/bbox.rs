//! [`BoundingBox`]: salience-core's axis-aligned pixel box, re-exported
//! for the localisation metrics.

pub use salience_core::BoundingBox;
