//! Loading file locations into a real (in-memory SQLite) catalog.

use std::path::Path;

use store::{DbSettings, SqliteLocation, Store};

use super::*;

async fn store() -> Store {
    let store = Store::connect(&DbSettings::Sqlite(SqliteLocation::Memory)).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test]
async fn loads_templates_follows_locations_and_reports_bad_documents() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "templates.yaml",
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: one, title: One}\nspec: {type: service, steps: []}\n---\napiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: 'bad name'}\nspec: {}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: comp}\nspec: {}\n",
    );
    write(
        dir.path(),
        "all.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: all}\nspec: {targets: [./templates.yaml, ./missing.yaml]}\n",
    );
    let store = store().await;
    let rules = vec![Rule { allow: vec!["Template".to_owned(), "Location".to_owned()] }];
    let catalog = Catalog::new(
        store.clone(),
        CatalogConfig {
            rules: Some(rules),
            locations: vec![LocationConfig { kind: "file".to_owned(), target: "all.yaml".to_owned(), rules: None }],
        },
    );
    let report = catalog.load_configured(dir.path()).await.unwrap();
    assert_eq!(report.loaded, vec!["template:default/one", "location:default/all"]);
    assert_eq!(report.problems.len(), 3, "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("templates.yaml (document 2): metadata.name \"bad name\"")));
    assert!(report.problems.iter().any(|p| p.contains("kind Component is not allowed by catalog.rules")));
    assert!(report.problems.iter().any(|p| p.contains("missing.yaml")));

    let row = store.entity_get("Template", "default", "ONE").await.unwrap().unwrap();
    let entity: Value = serde_json::from_str(&row.entity).unwrap();
    let location = format!("file:{}", dir.path().canonicalize().unwrap().join("templates.yaml").display());
    assert_eq!(entity["metadata"]["annotations"]["backstage.io/managed-by-location"], location);
    assert_eq!(entity["metadata"]["uid"], row.uid.to_string());

    // Loading again keeps the uid.
    catalog.load_configured(dir.path()).await.unwrap();
    assert_eq!(store.entity_get("template", "default", "one").await.unwrap().unwrap().uid, row.uid);
}
