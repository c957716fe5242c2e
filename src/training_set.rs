//! The images a detector is fitted on: many normal ones and K abnormal ones.

use std::path::Path;

use wscxr_image::Xray;

use crate::WscxrError;
use crate::data::list_images;

/// Normal training images and the K known-abnormal ones (image-level labels only): files (paths
/// convert) or [`Radiograph`](crate::Radiograph)s in memory, in any mix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainingSet {
    normals: Vec<Xray>,
    abnormals: Vec<Xray>,
}

impl TrainingSet {
    /// The weakly supervised setting: `normals` and K = `abnormals.len()` abnormal images.
    pub fn new<N, A>(normals: N, abnormals: A) -> Self
    where
        N: IntoIterator,
        N::Item: Into<Xray>,
        A: IntoIterator,
        A::Item: Into<Xray>,
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
        N::Item: Into<Xray>,
    {
        Self::new(normals, Vec::<Xray>::new())
    }

    /// The normal images.
    pub fn normals(&self) -> &[Xray] {
        &self.normals
    }

    /// The abnormal images (K of them).
    pub fn abnormals(&self) -> &[Xray] {
        &self.abnormals
    }

    /// K = 0.
    pub fn is_unsupervised(&self) -> bool {
        self.abnormals.is_empty()
    }
}

/// Images with their labels (`true` = abnormal), normal ones first: files (paths convert) or
/// radiographs in memory, as [`TrainingSet`] takes them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelledImages {
    /// The images.
    pub images: Vec<Xray>,
    /// One label per image.
    pub labels: Vec<bool>,
}

impl LabelledImages {
    /// `normal` images labelled normal, then `anomaly` images labelled abnormal.
    pub fn new<N, A>(normal: N, anomaly: A) -> Self
    where
        N: IntoIterator,
        N::Item: Into<Xray>,
        A: IntoIterator,
        A::Item: Into<Xray>,
    {
        let normal: Vec<Xray> = normal.into_iter().map(Into::into).collect();
        let anomaly: Vec<Xray> = anomaly.into_iter().map(Into::into).collect();
        let labels = normal
            .iter()
            .map(|_| false)
            .chain(anomaly.iter().map(|_| true))
            .collect();
        Self {
            images: normal.into_iter().chain(anomaly).collect(),
            labels,
        }
    }

    /// The images of `dir/normal` and `dir/anomaly`.
    pub fn from_folder(dir: &Path) -> Result<Self, WscxrError> {
        Ok(Self::new(
            list_images(dir.join("normal"))?,
            list_images(dir.join("anomaly"))?,
        ))
    }

    /// The files among the images (radiographs in memory have none), in order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.images.iter().filter_map(Xray::path)
    }

    /// How many images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// No image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// How many are abnormal.
    pub fn abnormal(&self) -> usize {
        self.labels.iter().filter(|&&l| l).count()
    }
}
