//! Linear mixing: fake anomalous patches interpolated between a prototype and a normal patch.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::BankError;

/// Draws fakes `a * prototype + (1 - a) * normal`, `a ~ U[min_alpha, 1)` per row, the prototype
/// uniformly with replacement. Seeded, and the draws happen on the host, so the same seed gives the
/// same fakes on every backend.
#[derive(Debug, Clone)]
pub struct LinearMixer {
    prototypes: Tensor<2>,
    min_alpha: f64,
    rng: StdRng,
}

impl LinearMixer {
    /// A mixer over `prototypes` `[k, d]` with the official `a ~ U[0.1, 1)`.
    pub fn new(prototypes: Tensor<2>, seed: u64) -> Result<Self, BankError> {
        Self::with_min_alpha(prototypes, 0.1, seed)
    }

    /// A mixer with `a ~ U[min_alpha, 1)`; `min_alpha = 1` turns mixing off (the fakes are the
    /// prototypes themselves, the paper's "no mixing" ablation).
    pub fn with_min_alpha(
        prototypes: Tensor<2>,
        min_alpha: f64,
        seed: u64,
    ) -> Result<Self, BankError> {
        if prototypes.dims()[0] == 0 {
            return Err(BankError::Empty("the anomaly prototypes"));
        }
        if !(0.0..=1.0).contains(&min_alpha) {
            return Err(BankError::InvalidParameter {
                name: "min_alpha",
                value: min_alpha.to_string(),
                reason: "must be in [0, 1]",
            });
        }
        Ok(Self {
            prototypes,
            min_alpha,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// One fake per row of `normals` `[n, d]`, on the normals' device.
    pub fn mix(&mut self, normals: &Tensor<2>) -> Result<Tensor<2>, BankError> {
        let [n, d] = normals.dims();
        let [k, pd] = self.prototypes.dims();
        if d != pd {
            return Err(BankError::ShapeMismatch {
                what: "normal feature dimension",
                expected: pd,
                found: d,
            });
        }
        let device = normals.device();
        let picks: Vec<i64> = (0..n).map(|_| self.rng.random_range(0..k) as i64).collect();
        let alphas: Vec<f32> = (0..n)
            .map(|_| {
                if self.min_alpha >= 1.0 {
                    1.0
                } else {
                    self.rng.random_range(self.min_alpha..1.0) as f32
                }
            })
            .collect();
        let picks = Tensor::<1, Int>::from_data(TensorData::new(picks, [n]), &device);
        let alpha = Tensor::<2>::from_data(TensorData::new(alphas, [n, 1]), &device);
        let chosen = self.prototypes.clone().to_device(&device).select(0, picks);
        Ok(chosen * alpha.clone() + normals.clone() * (alpha.neg() + 1.0))
    }
}
