//! `--config FILE`: every `WscxrConfig` field from TOML or JSON; fields left out keep the defaults.

use std::path::Path;

use wscxr::WscxrConfig;

/// Reads a configuration file: `.toml` as TOML, anything else as JSON. Unknown fields are errors.
pub fn read(path: &Path) -> Result<WscxrConfig, String> {
    const LIMIT: u64 = 1 << 20;
    let error = |e: String| format!("--config: {}: {e}", path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| error(e.to_string()))?
        .len();
    if size > LIMIT {
        return Err(error(format!(
            "{size} bytes; a configuration is at most {LIMIT}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        toml::from_str(&text).map_err(|e| error(e.to_string()))
    } else {
        serde_json::from_str(&text).map_err(|e| error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_set_fields_and_keep_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("c.toml");
        std::fs::write(
            &toml_path,
            "seed = 3\nimage_size = 128\n[train]\nepochs = 7\n",
        )
        .unwrap();
        let c = read(&toml_path).unwrap();
        assert_eq!((c.seed, c.image_size, c.train.epochs), (3, 128, 7));
        assert_eq!(
            c.train.images_per_step,
            WscxrConfig::default().train.images_per_step
        );
        let json_path = dir.path().join("c.json");
        std::fs::write(
            &json_path,
            r#"{"mining_ratio": 0.3, "layers": ["block12_out"]}"#,
        )
        .unwrap();
        let c = read(&json_path).unwrap();
        assert_eq!(c.mining_ratio, 0.3);
        assert_eq!(c.layers, ["block12_out"]);
        std::fs::write(&json_path, r#"{"epochs": 3}"#).unwrap();
        let err = read(&json_path).unwrap_err();
        assert!(err.contains("--config") && err.contains("epochs"), "{err}");
    }
}
