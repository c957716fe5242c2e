//! The unsupervised baseline (PatchCore, K = 0): an image is as anomalous as its farthest patch.

use burn::prelude::*;

use crate::BankError;
use crate::bank::{NormalBank, SearchConfig};

/// Per-image scores: the maximum over each image's `patches_per_image` rows of `patches` of the
/// Euclidean distance to the nearest bank row. Also returns every patch's distance, image-major.
pub fn patchcore_scores(
    patches: &Tensor<2>,
    patches_per_image: usize,
    bank: &NormalBank,
    search: &SearchConfig,
) -> Result<(Vec<f32>, Vec<f32>), BankError> {
    let [rows, _] = patches.dims();
    if patches_per_image == 0 || rows % patches_per_image != 0 {
        return Err(BankError::ShapeMismatch {
            what: "patch rows per image (must divide the rows)",
            expected: patches_per_image,
            found: rows,
        });
    }
    let distances = bank.nearest(patches, search)?.distances();
    let scores = distances
        .chunks(patches_per_image)
        .map(|image| image.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .collect();
    Ok((scores, distances))
}
