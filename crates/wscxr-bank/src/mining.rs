//! Anomaly mining: the abnormal images' patches farthest from every normal patch are the prototypes.

use burn::prelude::*;

use crate::BankError;
use crate::bank::{NormalBank, SearchConfig};
use crate::patch::PatchFeatures;

/// The mined anomaly prototypes.
#[derive(Debug, Clone)]
pub struct Prototypes {
    /// `[k, d]` prototype rows, most anomalous first.
    pub rows: Tensor<2>,
    /// Their row indices in the abnormal patch features.
    pub indices: Vec<usize>,
    /// Their squared distances to the normal bank.
    pub squared_distances: Vec<f32>,
}

/// Checks a mining ratio: in (0, 1].
pub fn check_mining_ratio(ratio: f64) -> Result<(), BankError> {
    if ratio > 0.0 && ratio <= 1.0 {
        Ok(())
    } else {
        Err(BankError::InvalidParameter {
            name: "mining ratio",
            value: ratio.to_string(),
            reason: "must be in (0, 1]",
        })
    }
}

/// Keeps the `floor(ratio * n)` of the `n` abnormal patches whose nearest-neighbour distance to
/// `bank` is largest (official: ratio 0.2). Ties are broken by the lower row index, so the set is
/// deterministic.
pub fn mine_prototypes(
    abnormal: &PatchFeatures,
    bank: &NormalBank,
    ratio: f64,
    search: &SearchConfig,
) -> Result<Prototypes, BankError> {
    check_mining_ratio(ratio)?;
    let abnormal = abnormal.rows();
    let [n, _] = abnormal.dims();
    if n == 0 {
        return Err(BankError::Empty("the abnormal patch features"));
    }
    let keep = ((n as f64) * ratio).floor() as usize;
    if keep == 0 {
        return Err(BankError::InvalidParameter {
            name: "mining ratio",
            value: ratio.to_string(),
            reason: "keeps no patch of so few abnormal patches",
        });
    }
    let neighbours = bank.nearest(abnormal, search)?;
    let mut order: Vec<usize> = (0..n).collect();
    let d = &neighbours.squared_distances;
    order.sort_by(|&a, &b| d[b].total_cmp(&d[a]).then(a.cmp(&b)));
    order.truncate(keep);
    let squared_distances = order.iter().map(|&i| d[i]).collect();
    let index_tensor = Tensor::<1, Int>::from_data(
        TensorData::new(order.iter().map(|&i| i as i64).collect::<Vec<_>>(), [keep]),
        &abnormal.device(),
    );
    Ok(Prototypes {
        rows: abnormal.clone().select(0, index_tensor),
        indices: order,
        squared_distances,
    })
}
