//! Every out-of-range configuration value is rejected by `WscxrConfig::check`, which `Wscxr::new`
//! runs before a fit reads any file. The training images and weights here do not exist: reaching
//! them would be a different error (naming a file), so each test shows the value was caught first.

use std::path::PathBuf;

use burn::prelude::*;
use wscxr::backbone::Network;
use wscxr::bank::CoresetSize;
use wscxr::{TrainingSet, Wscxr, WscxrConfig};

/// Asserts that `config` is rejected up front, naming `parameter`.
fn rejected(config: WscxrConfig, parameter: &str) {
    let err = config.check().expect_err("an invalid value passed check()");
    assert_eq!(err.invalid_parameter(), Some(parameter), "{err}");
    let missing = TrainingSet::new(
        [PathBuf::from("/nonexistent/normal.png")],
        [PathBuf::from("/nonexistent/abnormal.png")],
    );
    let err = match Wscxr::new(config) {
        Ok(w) => w.fit(&missing, &Device::flex()).unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.invalid_parameter(), Some(parameter), "{err}");
}

macro_rules! rejects {
    ($($test:ident: |$c:ident| $change:expr => $parameter:literal;)*) => {$(
        #[test]
        fn $test() {
            let mut $c = WscxrConfig {
                weights: Some(PathBuf::from("/nonexistent/weights.onnx")),
                ..WscxrConfig::default()
            };
            $change;
            rejected($c, $parameter);
        }
    )*};
}

rejects! {
    no_layer: |c| c.layers.clear() => "layers";
    unknown_layer: |c| c.layers = vec!["block99_out".into()] => "layers";
    layer_of_the_other_network: |c| c.layers = vec!["denseblock4".into()] => "layers";
    layer_twice: |c| c.layers = vec!["block13_out".into(), "block13_out".into()] => "layers";
    image_too_small: |c| c.image_size = 16 => "image_size";
    image_too_large: |c| c.image_size = 100_000 => "image_size";
    batch_of_zero: |c| c.batch_size = 0 => "batch_size";
    batch_too_large: |c| c.batch_size = 100_000 => "batch_size";
    no_normals: |c| c.max_normals = 0 => "max_normals";
    densenet_without_weights: |c| { c.backbone = Network::DenseNet121; c.layers = vec!["denseblock4".into()]; c.weights = None } => "weights";
    even_patch: |c| c.patch.patch_size = 4 => "patch_size";
    zero_patch: |c| c.patch.patch_size = 0 => "patch_size";
    huge_patch: |c| c.patch.patch_size = 99_999 => "patch_size";
    reduce_to_zero: |c| c.patch.reduce_to = Some(0) => "reduce_to";
    reduce_to_huge: |c| c.patch.reduce_to = Some(usize::MAX) => "reduce_to";
    coreset_fraction_zero: |c| c.coreset.size = CoresetSize::Fraction(0.0) => "coreset fraction";
    coreset_fraction_above_one: |c| c.coreset.size = CoresetSize::Fraction(1.5) => "coreset fraction";
    coreset_fraction_nan: |c| c.coreset.size = CoresetSize::Fraction(f64::NAN) => "coreset fraction";
    coreset_count_zero: |c| c.coreset.size = CoresetSize::Count(0) => "coreset count";
    coreset_projection_zero: |c| c.coreset.projection_dim = 0 => "coreset projection_dim";
    mining_ratio_zero: |c| c.mining_ratio = 0.0 => "mining ratio";
    mining_ratio_above_one: |c| c.mining_ratio = 1.01 => "mining ratio";
    mining_ratio_nan: |c| c.mining_ratio = f64::NAN => "mining ratio";
    hidden_width_zero: |c| c.discriminator.hidden = vec![64, 0] => "discriminator hidden width";
    zero_epochs: |c| c.train.epochs = 0 => "epochs";
    zero_images_per_step: |c| c.train.images_per_step = 0 => "images_per_step";
    learning_rate_zero: |c| c.train.learning_rate = 0.0 => "learning_rate";
    learning_rate_negative: |c| c.train.learning_rate = -2e-4 => "learning_rate";
    learning_rate_nan: |c| c.train.learning_rate = f64::NAN => "learning_rate";
    learning_rate_infinite: |c| c.train.learning_rate = f64::INFINITY => "learning_rate";
    weight_decay_negative: |c| c.train.weight_decay = -1e-5 => "weight_decay";
    weight_decay_nan: |c| c.train.weight_decay = f32::NAN => "weight_decay";
    margin_zero: |c| c.train.margin = 0.0 => "margin";
    margin_nan: |c| c.train.margin = f32::NAN => "margin";
}

#[test]
fn the_defaults_pass_and_a_valid_fit_reaches_the_files() {
    WscxrConfig::default().check().unwrap();
    // With a valid configuration the same missing files are what fails, named.
    let missing = TrainingSet::new(
        [PathBuf::from("/nonexistent/normal.png")],
        Vec::<PathBuf>::new(),
    );
    let config = WscxrConfig {
        weights: Some(PathBuf::from("/nonexistent/weights.onnx")),
        ..WscxrConfig::default()
    };
    let err = Wscxr::new(config)
        .unwrap()
        .fit(&missing, &Device::flex())
        .unwrap_err();
    assert_eq!(err.invalid_parameter(), None);
    assert!(
        err.to_string().contains("/nonexistent/weights.onnx"),
        "{err}"
    );
}

#[test]
fn a_configuration_round_trips_through_json_and_holds_one_seed() {
    let config = WscxrConfig::default().with_seed(7);
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["seed"], 7);
    assert!(
        json["coreset"].get("seed").is_none(),
        "the coreset holds no seed of its own"
    );
    assert!(
        json["train"].get("seed").is_none(),
        "training holds no seed of its own"
    );
    let back: WscxrConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, config);
}
