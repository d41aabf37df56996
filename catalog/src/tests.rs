//! Loading file locations into a real (in-memory SQLite) catalog.

use std::path::Path;

use store::{DbSettings, SqliteLocation, Store};

use super::*;

async fn store() -> Store {
    let store = Store::connect(&DbSettings::Sqlite(SqliteLocation::Memory)).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A catalog whose configuration names a file in `dir`, so files there may be registered.
fn catalog_in(store: &Store, dir: &Path, config: CatalogConfig) -> Catalog {
    write(dir, "configured.yaml", "");
    let configured = LocationConfig {
        kind: "file".to_owned(),
        target: dir.join("configured.yaml").display().to_string(),
        rules: None,
    };
    Catalog::new(store.clone(), CatalogConfig { locations: vec![configured], ..config })
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
    assert_eq!(report.loaded.len(), 3, "{:?}", report.loaded);
    assert!(report.loaded[0].starts_with("location:default/generated-"));
    assert_eq!(report.loaded[1..], ["template:default/one", "location:default/all"]);
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
    let catalog = catalog_in(&store, dir.path(), CatalogConfig::default());
    let target = dir.path().join("catalog-info.yaml").display().to_string();

    // A dry-run reads without registering.
    let dry = catalog.add_location("file", &target, true).await.unwrap();
    // The generated Location entity first, as Backstage lists it.
    assert_eq!(dry.entities.len(), 3);
    assert_eq!(dry.entities[0]["kind"], "Location");
    assert!(dry.entities[1]["metadata"].get("uid").is_none(), "dry-runs show no uid");
    assert!(!dry.exists);
    assert!(store.entity_get("component", "default", "web").await.unwrap().is_none());

    let added = catalog.add_location("file", &target, false).await.unwrap();
    assert_eq!(added.entities.len(), 3);
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

    // Deleting the location removes what it provides at once, as Backstage does; the orphan it
    // no longer provided stays until someone deletes it.
    catalog.delete_location(added.location.id).await.unwrap();
    assert!(store.entity_get("component", "default", "web").await.unwrap().is_none());
    assert!(store.entity_get("component", "default", "api").await.unwrap().is_some());
    assert!(matches!(catalog.delete_location(added.location.id).await, Err(CatalogError::NotFound(_))));

    // With `orphanStrategy: delete` a dropped entity goes on the next refresh.
    write(dir.path(), "catalog-info.yaml", COMPONENTS);
    let deleting = catalog_in(
        &store,
        dir.path(),
        CatalogConfig { orphan_strategy: OrphanStrategy::Delete, ..CatalogConfig::default() },
    );
    store.entity_delete(store.entity_get("component", "default", "api").await.unwrap().unwrap().uid).await.unwrap();
    let added = deleting.add_location("file", &target, false).await.unwrap();
    write(dir.path(), "catalog-info.yaml", &COMPONENTS[..COMPONENTS.find("---").unwrap()]);
    deleting.refresh_location(added.location.id).await.unwrap();
    assert!(store.entity_get("component", "default", "api").await.unwrap().is_none());
    assert!(store.entity_get("component", "default", "web").await.unwrap().is_some());
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
    let catalog = catalog_in(&store, dir.path(), CatalogConfig::default());
    let target = dir.path().join("mixed.yaml").display().to_string();
    for dry_run in [true, false] {
        let Err(CatalogError::Input(message)) = catalog.add_location("file", &target, dry_run).await else { panic!() };
        assert!(message.contains("mixed.yaml (document 2): metadata.name \"Not Valid!\""), "{message}");
        assert!(message.contains("(document 3): apiVersion"), "{message}");
    }
    let missing = catalog.add_location("file", &dir.path().join("nope.yaml").display().to_string(), false).await;
    assert!(
        matches!(&missing, Err(CatalogError::Input(m)) if m.starts_with("NotFoundError: Unable to read file:")),
        "{missing:?}"
    );
    assert!(
        store.location_list().await.unwrap().iter().all(|l| l.from_config),
        "neither an unreadable nor an invalid location is registered"
    );
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
    let catalog = catalog_in(&store, dir.path(), CatalogConfig::default());
    let first = catalog.add_location("file", &dir.path().join("one.yaml").display().to_string(), false).await.unwrap();
    catalog.add_location("file", &dir.path().join("two.yaml").display().to_string(), false).await.unwrap();
    let web = store.entity_get("component", "default", "web").await.unwrap().unwrap();
    assert_eq!(web.location_id, Some(first.location.id));
}

#[tokio::test]
async fn files_outside_configured_directories_cannot_be_registered() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), "c.yaml", COMPONENTS);
    let store = store().await;
    let catalog = catalog_in(&store, dir.path(), CatalogConfig::default());
    for target in [
        elsewhere.path().join("c.yaml").display().to_string(),
        "/etc/passwd".to_owned(),
        format!("{}/../x", dir.path().display()),
    ] {
        let Err(CatalogError::Input(message)) = catalog.add_location("file", &target, true).await else {
            panic!("{target}")
        };
        assert!(message.starts_with("Registered locations must be of an allowed type"), "{message}");
    }
}
