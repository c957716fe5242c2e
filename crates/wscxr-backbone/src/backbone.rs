//! A frozen backbone with its weights: which network, where its weights came from, and feature
//! extraction from tensors or image files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use burn::prelude::*;
use burn::store::{BurnpackStore, FloatCastAdapter, HalfPrecisionAdapter, ModuleSnapshot};
use burn::tensor::DType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::BackboneError;
use crate::densenet::{DENSENET121_TAPS, DenseNet121};
use crate::preprocess::{InputImage, Normalization, load_image};
use crate::weights::{NamedTensor, apply_named, read_onnx};
use crate::xception::{XCEPTION_TAPS, Xception};

/// The networks this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// torchvision DenseNet-121 (the paper's backbone), ImageNet normalisation.
    DenseNet121,
    /// Keras Xception up to block 13, `x / 127.5 - 1` normalisation.
    Xception,
}

impl Network {
    /// Short lower-case name (`densenet121`, `xception`), as used on command lines and in files.
    pub fn name(self) -> &'static str {
        match self {
            Network::DenseNet121 => "densenet121",
            Network::Xception => "xception",
        }
    }

    /// Parses [`Network::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "densenet121" => Some(Network::DenseNet121),
            "xception" => Some(Network::Xception),
            _ => None,
        }
    }

    /// The feature taps, shallow to deep.
    pub fn taps(self) -> &'static [&'static str] {
        match self {
            Network::DenseNet121 => &DENSENET121_TAPS,
            Network::Xception => &XCEPTION_TAPS,
        }
    }

    /// Channels of a tap's feature map.
    pub fn tap_channels(self, tap: &str) -> Option<usize> {
        let index = self.taps().iter().position(|t| *t == tap)?;
        Some(match self {
            Network::DenseNet121 => [256, 512, 1024, 1024][index],
            Network::Xception => [256, 728, 728, 1024][index],
        })
    }

    /// How the network expects its input scaled.
    pub fn normalization(self) -> Normalization {
        match self {
            Network::DenseNet121 => Normalization::ImageNet,
            Network::Xception => Normalization::SymmetricUnit,
        }
    }

    /// The weight-file name of a module path (inverse of `module_path`).
    fn weight_name(self, path: &str) -> String {
        match self {
            Network::DenseNet121 => DenseNet121::weight_name(path),
            Network::Xception => Xception::weight_name(path),
        }
    }

    /// The module path a weight-file name maps to, `None` when the name is not one of this network's.
    fn module_path(self, name: &str) -> Option<String> {
        match self {
            Network::DenseNet121 => DenseNet121::module_path(name),
            Network::Xception => Xception::module_path(name),
        }
    }

    fn tap_index(self, tap: &str) -> Result<usize, BackboneError> {
        self.taps()
            .iter()
            .position(|t| *t == tap)
            .ok_or_else(|| BackboneError::UnknownTap {
                tap: tap.to_string(),
                network: self.name().to_string(),
                available: self.taps().join(", "),
            })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone)]
enum Model {
    DenseNet121(Box<DenseNet121>),
    Xception(Box<Xception>),
}

impl Model {
    fn new(network: Network, device: &Device) -> Self {
        match network {
            Network::DenseNet121 => Model::DenseNet121(Box::new(DenseNet121::new(device))),
            Network::Xception => Model::Xception(Box::new(Xception::new(device))),
        }
    }
}

/// Storage precision of a burn record written by [`Backbone::save_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// Every tensor as float32.
    Full,
    /// Convolution and linear weights as float16, batch-norm statistics as float32 (their small
    /// running variances underflow in half precision). Loaded back as float32.
    Half,
}

/// Options for [`Backbone::extract`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractOptions {
    /// Images are resized to `size x size` (the paper: 256).
    pub size: usize,
    /// Feature taps to return, e.g. `["block13_out"]`.
    pub taps: Vec<String>,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl ExtractOptions {
    /// `size` 256, batch 8, the given taps.
    pub fn new<S: Into<String>>(taps: impl IntoIterator<Item = S>) -> Self {
        Self {
            size: 256,
            taps: taps.into_iter().map(Into::into).collect(),
            batch_size: 8,
        }
    }
}

/// A frozen ImageNet backbone on a device, ready to extract feature maps.
#[derive(Debug, Clone)]
pub struct Backbone {
    network: Network,
    model: Model,
    device: Device,
}

impl Backbone {
    /// Loads `network` with weights from an ONNX file whose initializers carry the network's
    /// parameter names (torchvision names for DenseNet-121, Keras layer names for Xception).
    ///
    /// Every tensor is checked: a missing, extra or mis-shaped tensor, or a file of another
    /// network, is an error naming the tensor and both shapes. A DenseNet-121 exported by
    /// `torch.onnx.export` in eval mode (with `norm0` folded into `conv0` and some initializers
    /// renamed `onnx::Conv_*`) is accepted: names are recovered from the consuming nodes, and the
    /// folded stem is loaded as `conv0` followed by an identity `norm0` carrying the bias.
    pub fn from_onnx(
        network: Network,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let path = path.as_ref();
        let tensors = read_onnx(path, |name| network.module_path(name).is_some())?;
        let mut mapped = Vec::with_capacity(tensors.len());
        let mut file_names = HashMap::new();
        for tensor in tensors {
            let name = network
                .module_path(&tensor.name)
                .unwrap_or_else(|| tensor.name.clone());
            file_names.insert(name.clone(), tensor.name.clone());
            mapped.push(NamedTensor { name, ..tensor });
        }
        let file_name = |path: &str| {
            file_names
                .get(path)
                .cloned()
                .unwrap_or_else(|| network.weight_name(path))
        };
        if network == Network::DenseNet121 {
            unfold_stem(&mut mapped);
        }
        let model = match Model::new(network, device) {
            Model::DenseNet121(m) => Model::DenseNet121(Box::new(apply_named(
                *m,
                mapped,
                &file_name,
                path,
                network.name(),
            )?)),
            Model::Xception(m) => Model::Xception(Box::new(apply_named(
                *m,
                mapped,
                &file_name,
                path,
                network.name(),
            )?)),
        };
        Ok(Self {
            network,
            model,
            device: device.clone(),
        })
    }

    /// Loads `network` from a burn record written by [`Backbone::save_record`].
    pub fn from_record(
        network: Network,
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(BackboneError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let record_error = |reason: String| BackboneError::Record {
            path: path.to_path_buf(),
            reason,
        };
        let mut store = BurnpackStore::from_file(path)
            .auto_extension(false)
            .with_from_adapter(FloatCastAdapter::to(DType::F32));
        let mut model = Model::new(network, device);
        let result = match &mut model {
            Model::DenseNet121(m) => m.as_mut().load_from(&mut store),
            Model::Xception(m) => m.as_mut().load_from(&mut store),
        }
        .map_err(|e| record_error(format!("not a {network} record: {e}")))?;
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(record_error(format!("not a {network} record: {result}")));
        }
        Ok(Self {
            network,
            model,
            device: device.clone(),
        })
    }

    /// Writes the weights in burn's own format (burnpack), at full or half precision.
    pub fn save_record(
        &self,
        path: impl AsRef<Path>,
        precision: Precision,
    ) -> Result<(), BackboneError> {
        let path = path.as_ref();
        let mut store = BurnpackStore::from_file(path)
            .auto_extension(false)
            .overwrite(true)
            .metadata("network", self.network.name());
        if precision == Precision::Half {
            store = store.with_to_adapter(HalfPrecisionAdapter::new());
        }
        match &self.model {
            Model::DenseNet121(m) => m.as_ref().save_into(&mut store),
            Model::Xception(m) => m.as_ref().save_into(&mut store),
        }
        .map_err(|e| BackboneError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Which network this is.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The DenseNet-121 module, for callers that need more than feature taps (e.g. logits).
    pub fn densenet121(&self) -> Option<&DenseNet121> {
        match &self.model {
            Model::DenseNet121(m) => Some(m),
            Model::Xception(_) => None,
        }
    }

    /// Feature maps of the requested taps for a normalised `[N, 3, H, W]` batch, in the order asked.
    ///
    /// The forward pass stops after the deepest requested tap.
    pub fn forward(
        &self,
        input: Tensor<4>,
        taps: &[&str],
    ) -> Result<Vec<Tensor<4>>, BackboneError> {
        if taps.is_empty() {
            return Err(BackboneError::InvalidConfig(
                "no feature tap requested".into(),
            ));
        }
        let indices = taps
            .iter()
            .map(|tap| self.network.tap_index(tap))
            .collect::<Result<Vec<_>, _>>()?;
        let deepest = *indices.iter().max().expect("taps is not empty");
        let maps = match &self.model {
            Model::DenseNet121(m) => m.forward_taps(input, deepest),
            Model::Xception(m) => m.forward_taps(input, deepest),
        };
        Ok(indices.iter().map(|&i| maps[i].clone()).collect())
    }

    /// Reads, preprocesses and runs image files in batches; returns one `[N, C, h, w]` tensor per
    /// requested tap, images in the order given.
    ///
    /// The next batch is decoded (in parallel) while the current one runs through the network.
    /// `progress(done, total)` is called after each batch.
    pub fn extract(
        &self,
        paths: &[PathBuf],
        options: &ExtractOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Tensor<4>>, BackboneError> {
        if options.batch_size == 0 || options.size == 0 {
            return Err(BackboneError::InvalidConfig(format!(
                "batch size and image size must be positive (got {} and {})",
                options.batch_size, options.size
            )));
        }
        let taps: Vec<&str> = options.taps.iter().map(String::as_str).collect();
        for tap in &taps {
            self.network.tap_index(tap)?;
        }
        if taps.is_empty() {
            return Err(BackboneError::InvalidConfig(
                "no feature tap requested".into(),
            ));
        }
        if paths.is_empty() {
            return Err(BackboneError::InvalidConfig(
                "no image to extract features from".into(),
            ));
        }
        let normalization = self.network.normalization();
        let size = options.size;
        let (sender, receiver) = mpsc::sync_channel::<Result<Vec<InputImage>, BackboneError>>(1);
        let batches: Vec<Vec<PathBuf>> = paths
            .chunks(options.batch_size)
            .map(<[PathBuf]>::to_vec)
            .collect();
        let mut outputs: Vec<Vec<Tensor<4>>> = vec![Vec::new(); taps.len()];
        std::thread::scope(|scope| -> Result<(), BackboneError> {
            scope.spawn(move || {
                for batch in batches {
                    let decoded: Result<Vec<InputImage>, BackboneError> = batch
                        .par_iter()
                        .map(|p| load_image(p, size, normalization))
                        .collect();
                    let failed = decoded.is_err();
                    if sender.send(decoded).is_err() || failed {
                        break;
                    }
                }
            });
            let mut done = 0;
            for decoded in receiver {
                let images = decoded?;
                let n = images.len();
                let mut data = Vec::with_capacity(n * 3 * size * size);
                for image in images {
                    data.extend_from_slice(&image.data);
                }
                let input =
                    Tensor::<4>::from_data(TensorData::new(data, [n, 3, size, size]), &self.device);
                for (out, map) in outputs.iter_mut().zip(self.forward(input, &taps)?) {
                    out.push(map);
                }
                done += n;
                progress(done, paths.len());
            }
            Ok(())
        })?;
        Ok(outputs
            .into_iter()
            .map(|maps| Tensor::cat(maps, 0))
            .collect())
    }
}

/// `torch.onnx.export` in eval mode folds `norm0` into `conv0` (the only BN that directly follows
/// a convolution). Undo it losslessly: `conv0` keeps the folded kernel, and `norm0` becomes an
/// identity that adds the folded bias.
fn unfold_stem(tensors: &mut Vec<NamedTensor>) {
    let has = |tensors: &Vec<NamedTensor>, name: &str| tensors.iter().any(|t| t.name == name);
    if has(tensors, "features.norm0.weight") {
        return;
    }
    let Some(position) = tensors.iter().position(|t| t.name == "features.conv0.bias") else {
        return;
    };
    let bias = tensors.remove(position);
    let channels = bias.data.len();
    // BN computes (x - mean) / sqrt(var + eps) * weight + bias; var = 1 - eps makes the scale 1.
    let unit_var = 1.0 - 1e-5;
    let constant = |name: &str, value: f32| NamedTensor {
        name: format!("features.norm0.{name}"),
        shape: vec![channels],
        data: vec![value; channels],
    };
    tensors.push(constant("weight", 1.0));
    tensors.push(constant("running_mean", 0.0));
    tensors.push(constant("running_var", unit_var));
    tensors.push(NamedTensor {
        name: "features.norm0.bias".into(),
        ..bias
    });
}
