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
            ..CatalogConfig::default()
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

const COMPONENTS: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec: {type: service, owner: team-a}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: api}\nspec: {type: service, owner: team-a}\n";

#[tokio::test]
async fn registered_locations_are_read_at_once_refreshed_and_orphan_what_they_drop() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "catalog-info.yaml", COMPONENTS);
    let store = store().await;
    let catalog = Catalog::new(store.clone(), CatalogConfig::default());
    let target = dir.path().join("catalog-info.yaml").display().to_string();

    // A dry-run reads without registering.
    let dry = catalog.add_location("file", &target, true).await.unwrap();
    assert_eq!(dry.entities.len(), 2);
    assert!(!dry.exists);
    assert!(store.entity_get("component", "default", "web").await.unwrap().is_none());

    let added = catalog.add_location("file", &target, false).await.unwrap();
    assert_eq!(added.entities.len(), 2);
    let web = store.entity_get("component", "default", "web").await.unwrap().unwrap();
    assert_eq!(web.location_id, Some(added.location.id));
    assert!(matches!(catalog.add_location("file", &target, false).await, Err(CatalogError::Conflict(_))));
    assert!(catalog.add_location("file", &target, true).await.unwrap().exists);

    // The file drops `api`: on refresh it is kept but marked as an orphan.
    write(dir.path(), "catalog-info.yaml", &COMPONENTS[..COMPONENTS.find("---").unwrap()]);
    catalog.refresh_entity("component:default/web").await.unwrap();
    let api: Value =
        serde_json::from_str(&store.entity_get("component", "default", "api").await.unwrap().unwrap().entity).unwrap();
    assert_eq!(api["metadata"]["annotations"]["backstage.io/orphan"], "true");
    assert_eq!(store.entity_get("component", "default", "web").await.unwrap().unwrap().uid, web.uid, "uids are stable");

    // Deleting the location orphans the rest; with the delete strategy they go.
    let deleting = Catalog::new(
        store.clone(),
        CatalogConfig { orphan_strategy: OrphanStrategy::Delete, ..CatalogConfig::default() },
    );
    deleting.delete_location(added.location.id).await.unwrap();
    assert!(store.entity_get("component", "default", "web").await.unwrap().is_none());
    assert!(matches!(deleting.delete_location(added.location.id).await, Err(CatalogError::NotFound(_))));
}

#[tokio::test]
async fn unreadable_locations_and_invalid_documents_are_reported_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "mixed.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: good}\nspec: {}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: 'Not Valid!'}\n---\nkind: Component\nmetadata: {name: x}\n",
    );
    let store = store().await;
    let catalog = Catalog::new(store.clone(), CatalogConfig::default());
    let target = dir.path().join("mixed.yaml").display().to_string();
    let added = catalog.add_location("file", &target, true).await.unwrap();
    assert_eq!(added.entities.len(), 1);
    assert_eq!(added.problems.len(), 2, "{:?}", added.problems);
    assert!(
        added.problems[0].contains("mixed.yaml (document 2): metadata.name \"Not Valid!\""),
        "{:?}",
        added.problems
    );
    assert!(added.problems[1].contains("(document 3): apiVersion"), "{:?}", added.problems);
    let missing = catalog.add_location("file", &dir.path().join("nope.yaml").display().to_string(), false).await;
    assert!(matches!(missing, Err(CatalogError::NotFound(_))), "{missing:?}");
    assert!(store.location_list().await.unwrap().is_empty(), "an unreadable location is not registered");
    assert!(matches!(catalog.add_location("url", "ftp://x/y", true).await, Err(CatalogError::Input(_))));
    assert!(matches!(
        catalog.add_location("url", "https://x.example/c.yaml", true).await,
        Err(CatalogError::NotAllowed(_))
    ));
}

#[tokio::test]
async fn an_entity_belongs_to_the_location_that_first_provided_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.yaml", COMPONENTS);
    write(dir.path(), "two.yaml", COMPONENTS);
    let store = store().await;
    let catalog = Catalog::new(store.clone(), CatalogConfig::default());
    let first = catalog.add_location("file", &dir.path().join("one.yaml").display().to_string(), false).await.unwrap();
    catalog.add_location("file", &dir.path().join("two.yaml").display().to_string(), false).await.unwrap();
    let web = store.entity_get("component", "default", "web").await.unwrap().unwrap();
    assert_eq!(web.location_id, Some(first.location.id));
}
