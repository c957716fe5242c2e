//! Named weight tensors: reading them from ONNX files, checking them against a network, applying
//! them to its module, and burn's own record format.
//!
//! The check is ours rather than burn-store's so that every problem names the tensor as the file
//! names it, with both shapes; burn-store then applies the already validated tensors.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, bridge};
use onnx_ir::{Message, ModelProto};

use crate::BackboneError;

/// One float tensor from a weights file, under the file's name, in PyTorch layout.
#[derive(Debug, Clone)]
pub(crate) struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// What a module expects at one parameter path.
#[derive(Debug, Clone)]
struct Slot {
    /// The module's own path (`block1.conv1_bn.gamma`).
    module_path: String,
    /// The module's shape for it.
    shape: Vec<usize>,
    /// Linear weights are stored `[in, out]` in burn and `[out, in]` in PyTorch/ONNX.
    transposed: bool,
}

/// Walks a module and lists its parameters under PyTorch-style names (`gamma` -> `weight`,
/// `beta` -> `bias`) with PyTorch-layout shapes, without materialising lazy parameters.
#[derive(Default)]
struct SlotCollector {
    path: Vec<String>,
    containers: Vec<String>,
    slots: BTreeMap<String, Slot>,
}

impl ModuleVisitor for SlotCollector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let module_path = self.path.join(".");
        // burn's derive names the struct that holds the field: for `gamma` that is the BatchNorm.
        let layer = self.containers.last().map(String::as_str).unwrap_or("");
        let (head, leaf) = module_path
            .rsplit_once('.')
            .unwrap_or(("", module_path.as_str()));
        let torch_leaf = match (layer, leaf) {
            ("Struct:BatchNorm", "gamma") => "weight",
            ("Struct:BatchNorm", "beta") => "bias",
            _ => leaf,
        };
        let torch_path = if head.is_empty() {
            torch_leaf.to_string()
        } else {
            format!("{head}.{torch_leaf}")
        };
        let mut shape = param.lazy_shape().to_vec();
        let transposed = layer == "Struct:Linear" && leaf == "weight" && shape.len() == 2;
        if transposed {
            shape.reverse();
        }
        self.slots.insert(
            torch_path,
            Slot {
                module_path,
                shape,
                transposed,
            },
        );
    }
}

/// Validates `tensors` (names already mapped to module paths in PyTorch style) against `module`
/// and loads them into it.
///
/// `file_name` gives the name a (PyTorch-style) module path has in the file, for error messages.
pub(crate) fn apply_named<M: Module>(
    module: M,
    tensors: Vec<NamedTensor>,
    file_name: &dyn Fn(&str) -> String,
    path: &Path,
    network: &str,
) -> Result<M, BackboneError> {
    let mut collector = SlotCollector::default();
    module.visit(&mut collector);
    let slots = collector.slots;
    let original = file_name;

    let matched = tensors
        .iter()
        .filter(|t| slots.contains_key(&t.name))
        .count();
    if matched * 2 < slots.len() {
        let sample: Vec<String> = tensors.iter().take(3).map(|t| original(&t.name)).collect();
        return Err(BackboneError::WrongNetwork {
            path: path.to_path_buf(),
            network: network.to_string(),
            reason: format!(
                "only {matched} of the {} tensors {network} needs were found (the file has {} tensors, e.g. {})",
                slots.len(),
                tensors.len(),
                sample.join(", ")
            ),
        });
    }

    let mut by_name: HashMap<&str, &NamedTensor> = HashMap::new();
    for tensor in &tensors {
        let Some(slot) = slots.get(&tensor.name) else {
            return Err(BackboneError::UnexpectedTensor {
                path: path.to_path_buf(),
                tensor: original(&tensor.name),
                shape: tensor.shape.clone(),
            });
        };
        if tensor.shape != slot.shape {
            return Err(BackboneError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: original(&tensor.name),
                expected: slot.shape.clone(),
                found: tensor.shape.clone(),
            });
        }
        if tensor.data.iter().any(|v| !v.is_finite()) {
            return Err(BackboneError::NonFinite {
                path: path.to_path_buf(),
                tensor: original(&tensor.name),
            });
        }
        by_name.insert(tensor.name.as_str(), tensor);
    }
    if let Some((name, slot)) = slots
        .iter()
        .find(|(name, _)| !by_name.contains_key(name.as_str()))
    {
        return Err(BackboneError::MissingTensor {
            path: path.to_path_buf(),
            tensor: original(name),
            expected: slot.shape.clone(),
        });
    }

    let snapshots = tensors
        .into_iter()
        .map(|tensor| {
            let slot = &slots[&tensor.name];
            let data = if slot.transposed {
                transpose(&tensor.data, tensor.shape[0], tensor.shape[1])
            } else {
                tensor.data
            };
            let shape = if slot.transposed {
                vec![tensor.shape[1], tensor.shape[0]]
            } else {
                tensor.shape
            };
            bridge::from_data(TensorData::new(data, shape), slot.module_path.clone(), None)
        })
        .collect();
    let mut module = module;
    let result = module.apply(snapshots, None, None, false);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        // Unreachable after the checks above unless burn-store's paths changed under us.
        return Err(BackboneError::WeightsFormat {
            path: path.to_path_buf(),
            reason: format!("burn-store could not apply the checked tensors: {result}"),
        });
    }
    Ok(module)
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// The float initializers of an ONNX file.
///
/// Initializers whose names are not parameter names (as `torch.onnx.export` writes them when it
/// folds constants, e.g. `onnx::Conv_512`) are renamed after the node that consumes them, read the
/// way the exporter names nodes (`/features/denseblock1/denselayer1/conv1/Conv` ->
/// `features.denseblock1.denselayer1.conv1.weight`).
pub(crate) fn read_onnx(
    path: &Path,
    is_parameter_name: impl Fn(&str) -> bool,
) -> Result<Vec<NamedTensor>, BackboneError> {
    let bytes = std::fs::read(path).map_err(|source| BackboneError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_onnx_bytes(path, &bytes, is_parameter_name)
}

/// [`read_onnx`] of a file's bytes already in memory; `path` names them in errors.
pub(crate) fn read_onnx_bytes(
    path: &Path,
    bytes: &[u8],
    is_parameter_name: impl Fn(&str) -> bool,
) -> Result<Vec<NamedTensor>, BackboneError> {
    let model = check_top_level_lengths(bytes)
        .and_then(|()| ModelProto::parse_from_bytes(bytes).map_err(|e| e.to_string()))
        .map_err(|e| BackboneError::WeightsFormat {
            path: path.to_path_buf(),
            reason: format!("not an ONNX model, or a truncated one ({e})"),
        })?;
    let graph = &*model.graph;
    if graph.initializer.is_empty() {
        return Err(BackboneError::WeightsFormat {
            path: path.to_path_buf(),
            reason:
                "the ONNX graph holds no initializers (weights stored externally are not supported)"
                    .into(),
        });
    }
    let consumer_names = consumer_parameter_names(graph);
    let mut out = Vec::with_capacity(graph.initializer.len());
    for init in &graph.initializer {
        if init.data_type == 7 && init.name.ends_with("num_batches_tracked") {
            continue; // an int64 training counter, not a weight
        }
        let shape = init
            .dims
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| BackboneError::WeightsFormat {
                path: path.to_path_buf(),
                reason: format!("initializer '{}' has a negative dimension", init.name),
            })?;
        if init.data_type != 1 {
            return Err(BackboneError::WeightsFormat {
                path: path.to_path_buf(),
                reason: format!(
                    "initializer '{}' has ONNX data type {}, only float32 (1) is supported",
                    init.name, init.data_type
                ),
            });
        }
        // Checked: dimensions are untrusted, and a product that wrapped could match the data's
        // length (`[2^32, 2^32]` wraps to 0, an empty tensor). Compared before any data is
        // copied, and raw bytes must be whole floats: a stray tail is damage, not padding.
        let wrong_size = |values: String| BackboneError::WeightsFormat {
            path: path.to_path_buf(),
            reason: format!(
                "initializer '{}' holds {values} for shape {shape:?}",
                init.name
            ),
        };
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| BackboneError::WeightsFormat {
                path: path.to_path_buf(),
                reason: format!(
                    "initializer '{}' has dimensions {shape:?} too large to hold",
                    init.name
                ),
            })?;
        let data: Vec<f32> = if !init.raw_data.is_empty() {
            if count.checked_mul(4) != Some(init.raw_data.len()) {
                return Err(wrong_size(format!("{} raw bytes", init.raw_data.len())));
            }
            init.raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            if init.float_data.len() != count {
                return Err(wrong_size(format!("{} values", init.float_data.len())));
            }
            init.float_data.clone()
        };
        let mut name = init.name.clone();
        let mut data = data;
        let mut shape = shape;
        if !is_parameter_name(&name)
            && let Some((renamed, gemm_untransposed)) = consumer_names.get(&name)
        {
            name = renamed.clone();
            if *gemm_untransposed && shape.len() == 2 {
                data = transpose(&data, shape[0], shape[1]);
                shape.reverse();
            }
        }
        out.push(NamedTensor { name, shape, data });
    }
    Ok(out)
}

/// Checks that every top-level field of the protobuf message `bytes` ends within it.
///
/// rust-protobuf reads a nested message to the end of its input when the input ends before the
/// message's declared length: a file cut between two of the graph's fields parses as a valid,
/// shorter graph. Any cut goes through a top-level field (the graph) or falls between two (and
/// loses whole fields, which the loader notices), so checking these few lengths catches it.
fn check_top_level_lengths(bytes: &[u8]) -> Result<(), String> {
    let varint = |at: &mut usize| -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let &byte = bytes.get(*at).ok_or("the file ends inside a field")?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    };
    let mut at = 0usize;
    while at < bytes.len() {
        let key = varint(&mut at)?;
        let len = match key & 7 {
            0 => varint(&mut at).map(|_| 0)?,
            1 => 8,
            2 => varint(&mut at)?,
            5 => 4,
            // Groups (3, 4) are deprecated and absent from ONNX; the rest are invalid.
            wire => return Err(format!("field {} has wire type {wire}", key >> 3)),
        };
        at = usize::try_from(len)
            .ok()
            .and_then(|len| at.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| format!("field {} ends past the end of the file", key >> 3))?;
    }
    Ok(())
}

/// For each initializer consumed by a Conv, BatchNormalization or Gemm node, the parameter name the
/// node's name implies, and whether it is a Gemm weight stored `[in, out]` (`transB = 0`).
fn consumer_parameter_names(graph: &onnx_ir::GraphProto) -> HashMap<String, (String, bool)> {
    let mut names = HashMap::new();
    for node in &graph.node {
        let params: &[&str] = match node.op_type.as_str() {
            "Conv" | "Gemm" => &["weight", "bias"],
            "BatchNormalization" => &["weight", "bias", "running_mean", "running_var"],
            _ => continue,
        };
        let trimmed = node.name.trim_start_matches('/');
        let module = match trimmed.rsplit_once('/') {
            Some((module, _op)) => module.replace('/', "."),
            None => trimmed.to_string(),
        };
        if module.is_empty() {
            continue;
        }
        let untransposed = node.op_type == "Gemm"
            && !node
                .attribute
                .iter()
                .any(|a| a.name == "transB" && a.i == 1);
        for (input, param) in node.input.iter().skip(1).zip(params) {
            names.insert(
                input.clone(),
                (
                    format!("{module}.{param}"),
                    untransposed && *param == "weight",
                ),
            );
        }
    }
    names
}
