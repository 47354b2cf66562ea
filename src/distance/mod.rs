//! Distances between embeddings and the decisions taken on them: ‖a − b‖² of two
//! embeddings, all probe–gallery distances at once, each gallery identity's nearest image,
//! and the operating point where a threshold holds a false-accept rate. Evaluation and
//! serving both read them.

mod nearest;
mod pairwise;
mod threshold;

pub use nearest::{dense_identities, nearest_by_identity};
pub(crate) use pairwise::embedding_rows;
pub use pairwise::{distance_matrix, squared_distance};
pub(crate) use threshold::{accept_rates, check_distances, count_kinds, largest_threshold_within, next_up};
pub use threshold::{operating_point, OperatingPoint};
