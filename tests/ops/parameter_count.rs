//! The paper's network has exactly the parameter counts of DESIGN.md §3.

use cari::autograd::ParamGroup;
use cari::model::{MultiTaskNet, NetworkConfig};
use cari::Device;

#[test]
fn full_network_has_the_reference_parameter_counts() {
    let net = MultiTaskNet::new(NetworkConfig::default()).unwrap();
    let (trunk, branches, weight_module) = net.parameter_counts();
    assert_eq!(trunk, 6_434_992);
    assert_eq!(branches, [3_549_635; 3]);
    assert_eq!(weight_module, 48_387);
    assert_eq!(trunk + branches.iter().sum::<usize>() + weight_module, 17_132_284);
    assert_eq!(net.z_shape().dims(), &[3, 3, 1792]);
}

#[test]
fn parameter_store_groups_add_up_to_the_total() {
    let net =
        MultiTaskNet::new(NetworkConfig { image_size: 96, num_classes: 10, width_divisor: 8, ..Default::default() })
            .unwrap();
    let params = net.init_params(1, &Device::cpu()).unwrap();
    let (trunk, branches, wm) = net.parameter_counts();
    assert_eq!(params.count(ParamGroup::Network), trunk + branches.iter().sum::<usize>());
    assert_eq!(params.count(ParamGroup::WeightModule), wm);
    assert_eq!(params.trainable_count(), trunk + branches.iter().sum::<usize>() + wm);
}

#[test]
fn layer_table_ends_at_the_paper_shapes() {
    let net = MultiTaskNet::new(NetworkConfig::default()).unwrap();
    let rows = net.layer_table().unwrap();
    let find = |name: &str| rows.iter().find(|r| r.name.ends_with(name)).unwrap().output.dims().to_vec();
    assert_eq!(find("Conv2d_1a_3x3"), [79, 79, 32]);
    assert_eq!(find("Conv2d_4b_3x3"), [17, 17, 256]);
    assert_eq!(find("Mixed_6a"), [8, 8, 896]);
    assert_eq!(find("Mixed_7a"), [3, 3, 1792]);
    assert_eq!(find("Logits_caricature"), [195]);
    let total: usize = rows.iter().map(|r| r.params).sum();
    assert_eq!(total, 17_132_284);
}

#[test]
fn too_small_input_is_refused_with_the_minimum() {
    let err = MultiTaskNet::new(NetworkConfig { image_size: 74, ..Default::default() }).err().unwrap();
    assert!(err.to_string().contains("75"), "{err}");
}
