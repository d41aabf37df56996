//! The sample templates in `examples/templates/`, compiled into the binary so that the embedded
//! default works from any directory. They are written out at start-up and registered as `file`
//! locations, so they go through exactly the same catalog path as an operator's own templates.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

static SAMPLES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../examples/templates");

/// Writes every sample under `directory` (replacing older copies); returns the `template.yaml`
/// files.
pub fn extract(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    if directory.exists() {
        std::fs::remove_dir_all(directory)?;
    }
    std::fs::create_dir_all(directory)?;
    SAMPLES.extract(directory)?;
    let mut templates: Vec<PathBuf> = SAMPLES
        .dirs()
        .map(|sample| directory.join(sample.path()).join("template.yaml"))
        .filter(|path| path.is_file())
        .collect();
    templates.sort();
    Ok(templates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_a_valid_template() {
        let dir = tempfile::tempdir().unwrap();
        let files = extract(dir.path()).unwrap();
        assert!(files.len() >= 2, "{files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let value: serde_json::Value = serde_norway::from_str(&text).unwrap();
            assert_eq!(value["kind"], "Template", "{}", file.display());
            assert_eq!(value["apiVersion"], "scaffolder.backstage.io/v1beta3");
        }
    }
}
