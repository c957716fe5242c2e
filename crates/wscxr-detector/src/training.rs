//! Training D on normal patches against freshly mixed fakes.

use std::ops::ControlFlow;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use wscxr_bank::{LinearMixer, PatchFeatures};

use crate::discriminator::Discriminator;
use crate::error::DetectorError;
use crate::loss::hinge_loss;

/// How D is trained (defaults: the official choices, 30 epochs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the normal images.
    pub epochs: usize,
    /// Normal images whose patches form one step's batch (official: 8); as many fakes are mixed.
    pub images_per_step: usize,
    /// Adam learning rate (official: 2e-4).
    pub learning_rate: f64,
    /// Adam's L2 weight decay (official: 1e-5).
    pub weight_decay: f32,
    /// Hinge margin (official: 0.5).
    pub margin: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            images_per_step: 8,
            learning_rate: 2e-4,
            weight_decay: 1e-5,
            margin: 0.5,
        }
    }
}

impl TrainConfig {
    /// Rejects zero epochs or images per step, and a learning rate, weight decay or margin that is
    /// not a finite positive (weight decay: non-negative) number, before any work.
    pub fn check(&self) -> Result<(), DetectorError> {
        let invalid = |name, value: String, reason| {
            Err(DetectorError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        if self.epochs == 0 {
            return invalid("epochs", "0".into(), "must be positive");
        }
        if self.images_per_step == 0 {
            return invalid("images_per_step", "0".into(), "must be positive");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            let value = self.learning_rate.to_string();
            return invalid("learning_rate", value, "must be a finite positive number");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            let value = self.weight_decay.to_string();
            return invalid("weight_decay", value, "must be finite and not negative");
        }
        if !(self.margin.is_finite() && self.margin > 0.0) {
            let value = self.margin.to_string();
            return invalid("margin", value, "must be a finite positive number");
        }
        Ok(())
    }
}

/// What one epoch did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean hinge loss over its steps.
    pub mean_loss: f32,
}

/// Trains `discriminator` on the normal images' patch features against fakes drawn by `mixer`,
/// one step per `images_per_step` images, shuffled each epoch with `seed`.
///
/// Features are used as given (computed once by the caller, never per epoch). After each epoch
/// `after_epoch` sees the report and an inference copy of D; returning `ControlFlow::Break` stops
/// early. Runs on the normals' device with autodiff enabled.
pub fn train(
    discriminator: Discriminator,
    normals: &PatchFeatures,
    mixer: &mut LinearMixer,
    config: &TrainConfig,
    seed: u64,
    mut after_epoch: impl FnMut(EpochReport, &Discriminator) -> ControlFlow<()>,
) -> Result<Discriminator, DetectorError> {
    config.check()?;
    let images = normals.images();
    if images == 0 {
        return Err(DetectorError::Bank(wscxr_bank::BankError::Empty(
            "the normal patch features",
        )));
    }
    let patches_per_image = normals.per_image();
    let normals = normals.rows();
    let device = normals.device().autodiff();
    let mut model = discriminator.to_device(&device).train();
    let mut optimizer = AdamConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay)))
        .init();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..images).collect();
    for epoch in 1..=config.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = Tensor::<1>::zeros([1], &normals.device());
        let mut steps = 0;
        for batch in order.chunks(config.images_per_step) {
            let index: Vec<i64> = batch
                .iter()
                .flat_map(|&image| {
                    (image * patches_per_image..(image + 1) * patches_per_image).map(|r| r as i64)
                })
                .collect();
            let count = index.len();
            let index =
                Tensor::<1, Int>::from_data(TensorData::new(index, [count]), &normals.device());
            let normal = normals.clone().select(0, index);
            let fake = mixer.mix(&normal)?;
            // One forward pass over normals and fakes together, as the reference code does: an
            // MLP's batch norm then normalises both with the same statistics, keeping the mean
            // difference between them that two separate passes would each subtract away.
            let scores = model.forward(Tensor::cat(vec![normal, fake], 0).autodiff());
            let loss = hinge_loss(
                scores.clone().narrow(0, 0, count),
                scores.narrow(0, count, count),
                config.margin,
            );
            loss_sum = loss_sum + loss.clone().detach().inner();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);
            steps += 1;
        }
        let mean_loss = loss_sum.into_scalar::<f32>() / steps as f32;
        if !mean_loss.is_finite() {
            return Err(DetectorError::Diverged {
                epoch,
                loss: mean_loss,
            });
        }
        let report = EpochReport { epoch, mean_loss };
        if after_epoch(report, &model.valid()).is_break() {
            break;
        }
    }
    Ok(model.valid())
}
