//! Loading weights (ONNX files, burn records) into a [`Backbone`] and saving burn records.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use burn::store::{BurnpackStore, FloatCastAdapter, HalfPrecisionAdapter, ModuleSnapshot};
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use crate::backbone::Backbone;
use crate::model::Model;
use crate::weights::{NamedTensor, apply_named, read_onnx, read_onnx_bytes};
use crate::{BackboneError, Network};

/// Storage precision of a burn record written by [`Backbone::save_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// Every tensor as float32.
    Full,
    /// Convolution and linear weights as float16, batch-norm statistics as float32 (their small
    /// running variances underflow in half precision). Loaded back as float32.
    Half,
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
        Self::from_onnx_tensors(network, path, tensors, device)
    }

    /// [`Backbone::from_onnx`] from the file's bytes, already in memory (read once, so that the
    /// bytes a caller hashed are the bytes that are parsed); `label` names them in errors.
    pub fn from_onnx_bytes(
        network: Network,
        label: &Path,
        bytes: &[u8],
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let tensors = read_onnx_bytes(label, bytes, |name| network.module_path(name).is_some())?;
        Self::from_onnx_tensors(network, label, tensors, device)
    }

    fn from_onnx_tensors(
        network: Network,
        path: &Path,
        tensors: Vec<NamedTensor>,
        device: &Device,
    ) -> Result<Self, BackboneError> {
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
        Self::assemble(network, model, device)
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
        let store = BurnpackStore::from_file(path).auto_extension(false);
        Self::from_store(network, path, store, device)
    }

    /// [`Backbone::from_record`] from the record's bytes, already in memory (read once, so that
    /// the bytes a caller hashed are the bytes that are parsed); `label` names them in errors.
    pub fn from_record_bytes(
        network: Network,
        label: &Path,
        bytes: Vec<u8>,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
        Self::from_store(network, label, store, device)
    }

    fn from_store(
        network: Network,
        path: &Path,
        store: BurnpackStore,
        device: &Device,
    ) -> Result<Self, BackboneError> {
        let record_error = |reason: String| BackboneError::Record {
            path: path.to_path_buf(),
            reason,
        };
        let mut store = store.with_from_adapter(FloatCastAdapter::to(DType::F32));
        let mut model = Model::new(network, device);
        let result = match &mut model {
            Model::DenseNet121(m) => m.as_mut().load_from(&mut store),
            Model::Xception(m) => m.as_mut().load_from(&mut store),
        }
        .map_err(|e| record_error(format!("not a {network} record: {e}")))?;
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(record_error(format!("not a {network} record: {result}")));
        }
        Self::assemble(network, model, device)
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
