//! The hinge loss that separates normal patches from fakes by a margin.

use burn::prelude::*;
use burn::tensor::activation::relu;

/// `mean(max(0, m - D(normal))) + mean(max(0, m + D(fake)))` (official margin m = 0.5).
pub fn hinge_loss(normal_scores: Tensor<1>, fake_scores: Tensor<1>, margin: f32) -> Tensor<1> {
    let normal = relu(normal_scores.neg().add_scalar(margin)).mean();
    let fake = relu(fake_scores.add_scalar(margin)).mean();
    normal + fake
}
