//! The normal memory bank Mn and exact nearest-neighbour search against it.

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use wscxr_backbone::is_host;

use crate::BankError;
use crate::coreset::{CoresetConfig, greedy_coreset};
use crate::host::{nearest, row_norms, to_host};
use crate::patch::PatchFeatures;

/// Options of [`NormalBank::nearest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Bank rows compared per step. Peak extra memory is about `chunk_rows x max(512, queries) x 4`
    /// bytes; 4,096 keeps it near 8 MiB on the host path and 64 MiB per 4,096 queries on a GPU.
    pub chunk_rows: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { chunk_rows: 4096 }
    }
}

/// For each query row: the squared L2 distance to its nearest bank row and that row's index.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    /// Squared distances, clamped at 0 (rounding can make `|q|^2 - 2 q.b + |b|^2` slightly negative).
    pub squared_distances: Vec<f32>,
    /// Index of the nearest bank row; ties go to the lower index.
    pub indices: Vec<usize>,
}

impl Neighbours {
    /// Euclidean distances.
    pub fn distances(&self) -> Vec<f32> {
        self.squared_distances.iter().map(|d| d.sqrt()).collect()
    }
}

#[derive(Debug, Clone)]
enum Storage {
    /// On CPU devices the rows live in host memory for the fused GEMM + running-minimum kernel.
    Host { rows: Vec<f32>, norms: Vec<f32> },
    /// Elsewhere (GPU) they stay on the device and the search uses burn tensors.
    Device(Box<DeviceRows>),
}

#[derive(Debug, Clone)]
struct DeviceRows {
    rows: Tensor<2>,
    /// `[1, m]` squared row norms.
    norms: Tensor<2>,
}

/// The normal memory bank: patch features of normal images (usually a coreset of them).
#[derive(Debug, Clone)]
pub struct NormalBank {
    storage: Storage,
    len: usize,
    dim: usize,
    device: Device,
}

impl NormalBank {
    /// A bank of the rows of `rows` `[m, d]`. On a CPU device the rows move to host memory (no copy
    /// stays behind on the device).
    pub fn new(rows: Tensor<2>) -> Result<Self, BankError> {
        let [len, dim] = rows.dims();
        if len == 0 || dim == 0 {
            return Err(BankError::Empty("the normal bank"));
        }
        let device = rows.device();
        let storage = if is_host(&device) {
            let rows = to_host(rows, "the normal bank")?;
            if rows.iter().any(|v| !v.is_finite()) {
                return Err(BankError::NonFinite("the normal bank"));
            }
            let norms = row_norms(&rows, dim);
            Storage::Host { rows, norms }
        } else {
            let norms = rows.clone().square().sum_dim(1).reshape([1, len]);
            Storage::Device(Box::new(DeviceRows { rows, norms }))
        };
        Ok(Self {
            storage,
            len,
            dim,
            device,
        })
    }

    /// The method's normal bank Mn: the greedy coreset (drawn with `seed`) of the normal images'
    /// patch features.
    pub fn coreset(
        normals: &PatchFeatures,
        config: &CoresetConfig,
        seed: u64,
    ) -> Result<Self, BankError> {
        let kept = greedy_coreset(normals.rows(), config, seed)?;
        if kept.is_empty() {
            return Err(BankError::InvalidParameter {
                name: "coreset size",
                value: format!("{:?}", config.size),
                reason: "keeps no row of the normal patches",
            });
        }
        let count = kept.len();
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(
                kept.into_iter().map(|i| i as i64).collect::<Vec<_>>(),
                [count],
            ),
            &normals.rows().device(),
        );
        Self::new(normals.rows().clone().select(0, index))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a bank has at least one row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The device the bank was built on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The rows as a tensor on the bank's device.
    pub fn rows(&self) -> Tensor<2> {
        match &self.storage {
            Storage::Host { rows, .. } => Tensor::from_data(
                TensorData::new(rows.clone(), [self.len, self.dim]),
                &self.device,
            ),
            Storage::Device(device) => device.rows.clone(),
        }
    }

    /// Exact nearest bank row of every query row (`[q, d]`), by squared L2 distance computed as
    /// `|q|^2 - 2 q.b + |b|^2` in chunks of `config.chunk_rows` bank rows.
    pub fn nearest(
        &self,
        queries: &Tensor<2>,
        config: &SearchConfig,
    ) -> Result<Neighbours, BankError> {
        let [n_queries, dim] = queries.dims();
        if dim != self.dim {
            return Err(BankError::ShapeMismatch {
                what: "query feature dimension",
                expected: self.dim,
                found: dim,
            });
        }
        if config.chunk_rows == 0 {
            return Err(BankError::InvalidParameter {
                name: "chunk_rows",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        if n_queries == 0 {
            return Ok(Neighbours {
                squared_distances: Vec::new(),
                indices: Vec::new(),
            });
        }
        match &self.storage {
            Storage::Host { rows, norms } => {
                let q = to_host(queries.clone(), "the queries")?;
                if q.iter().any(|v| !v.is_finite()) {
                    return Err(BankError::NonFinite("the queries"));
                }
                let (squared_distances, indices) = nearest(&q, rows, norms, dim, config.chunk_rows);
                Ok(Neighbours {
                    squared_distances,
                    indices,
                })
            }
            Storage::Device(device) => {
                self.nearest_on_device(queries, &device.rows, &device.norms, config)
            }
        }
    }

    fn nearest_on_device(
        &self,
        queries: &Tensor<2>,
        rows: &Tensor<2>,
        norms: &Tensor<2>,
        config: &SearchConfig,
    ) -> Result<Neighbours, BankError> {
        let [n_queries, _] = queries.dims();
        let queries = queries.clone().to_device(&self.device);
        let query_norms = queries.clone().square().sum_dim(1);
        let mut best: Option<(Tensor<2>, Tensor<2, Int>)> = None;
        for start in (0..self.len).step_by(config.chunk_rows) {
            let count = config.chunk_rows.min(self.len - start);
            let chunk = rows.clone().narrow(0, start, count);
            let chunk_norms = norms.clone().narrow(1, start, count);
            let partial = chunk_norms - queries.clone().matmul(chunk.transpose()).mul_scalar(2.0);
            let (value, index) = partial.min_dim_with_indices(1);
            let index = index.add_scalar(start as i64);
            best = Some(match best {
                None => (value, index),
                Some((best_value, best_index)) => {
                    // Strictly smaller wins, so ties keep the earlier (lower) index.
                    let better = value.clone().lower(best_value.clone());
                    (
                        best_value.mask_where(better.clone(), value),
                        best_index.mask_where(better, index),
                    )
                }
            });
        }
        let (value, index) = best.expect("the bank has at least one row");
        let squared = (value + query_norms).clamp_min(0.0);
        let squared_distances = squared
            .reshape([n_queries])
            .try_into_vec_as::<f32>()
            .map_err(|e| BankError::Readback {
                what: "nearest-neighbour distances",
                reason: format!("{e:?}"),
            })?;
        if squared_distances.iter().any(|v| !v.is_finite()) {
            return Err(BankError::NonFinite("the queries"));
        }
        let indices = index
            .reshape([n_queries])
            .try_into_vec_as::<i64>()
            .map_err(|e| BankError::Readback {
                what: "nearest-neighbour indices",
                reason: format!("{e:?}"),
            })?
            .into_iter()
            .map(|i| i as usize)
            .collect();
        Ok(Neighbours {
            squared_distances,
            indices,
        })
    }
}
