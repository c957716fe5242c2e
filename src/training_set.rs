//! The images a detector is fitted on: many normal ones and K abnormal ones.

use std::path::PathBuf;

/// Normal training images and the K known-abnormal ones (image-level labels only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrainingSet {
    normals: Vec<PathBuf>,
    abnormals: Vec<PathBuf>,
}

impl TrainingSet {
    /// The weakly supervised setting: `normals` and K = `abnormals.len()` abnormal images.
    pub fn new<N, A>(normals: N, abnormals: A) -> Self
    where
        N: IntoIterator,
        N::Item: Into<PathBuf>,
        A: IntoIterator,
        A::Item: Into<PathBuf>,
    {
        Self {
            normals: normals.into_iter().map(Into::into).collect(),
            abnormals: abnormals.into_iter().map(Into::into).collect(),
        }
    }

    /// The unsupervised setting (K = 0): the detector scores by distance to the normal bank
    /// (PatchCore).
    pub fn unsupervised<N>(normals: N) -> Self
    where
        N: IntoIterator,
        N::Item: Into<PathBuf>,
    {
        Self::new(normals, Vec::<PathBuf>::new())
    }

    /// The normal images.
    pub fn normals(&self) -> &[PathBuf] {
        &self.normals
    }

    /// The abnormal images (K of them).
    pub fn abnormals(&self) -> &[PathBuf] {
        &self.abnormals
    }

    /// K = 0.
    pub fn is_unsupervised(&self) -> bool {
        self.abnormals.is_empty()
    }
}
