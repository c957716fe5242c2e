//! WSCXR's feature bank: everything between the backbone's feature maps and the discriminator's
//! training data, on a caller-given burn [`Device`](burn::prelude::Device).
//!
//! - [`patch_features`]: local 5x5 averaging, grid alignment, one row per cell
//!   ([`PatchFeatures`]);
//! - [`NormalBank::coreset`]: the normal bank Mn as an approximate [`greedy_coreset`];
//! - [`NormalBank::nearest`]: exact nearest neighbours by squared L2 distance;
//! - [`mine_prototypes`]: the top-r abnormal patches farthest from Mn;
//! - [`LinearMixer`]: fake anomalies mixed from prototypes and normal patches;
//! - [`patchcore_scores`]: the unsupervised (K = 0) baseline.

mod bank;
mod coreset;
mod error;
mod host;
mod mining;
mod mixing;
mod patch;
mod patchcore;

pub use bank::{Neighbours, NormalBank, SearchConfig};
pub use coreset::{CoresetConfig, CoresetSize, greedy_coreset};
pub use error::BankError;
pub use mining::{Prototypes, check_mining_ratio, mine_prototypes};
pub use mixing::LinearMixer;
pub use patch::{PatchConfig, PatchFeatures, patch_features};
pub use patchcore::patchcore_scores;
