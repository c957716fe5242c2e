//! The unsupervised baseline (PatchCore, K = 0): an image is as anomalous as its farthest patch.

use crate::BankError;
use crate::bank::{NormalBank, SearchConfig};
use crate::patch::PatchFeatures;

/// Per-image scores: the maximum over each image's patches of the Euclidean distance to the
/// nearest bank row. Also returns every patch's distance, image-major.
pub fn patchcore_scores(
    patches: &PatchFeatures,
    bank: &NormalBank,
    search: &SearchConfig,
) -> Result<(Vec<f32>, Vec<f32>), BankError> {
    let patches_per_image = patches.per_image();
    let distances = bank.nearest(patches.rows(), search)?.distances();
    let scores = distances
        .chunks(patches_per_image)
        .map(|image| image.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .collect();
    Ok((scores, distances))
}
