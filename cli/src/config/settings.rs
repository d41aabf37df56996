//! Everything the commands need, read from the merged tree with Backstage's key names and our
//! defaults (DESIGN.md §8). Every check that can fail does so here, at start-up, naming the key.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use api::{ApiConfig, AuthConfig, StaticToken};
use catalog::{CatalogConfig, LocationConfig, Rule};
use serde_json::Value;
use store::{DbSettings, PgSettings, SqliteLocation};

use super::ConfigError;
use super::reader::Reader;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// No configuration was found at all: the embedded defaults apply.
    pub embedded_default: bool,
    pub listen_host: String,
    pub listen_port: u16,
    pub database: DbSettings,
    pub database_kind: DatabaseKind,
    pub working_directory: PathBuf,
    pub auth: AuthConfig,
    pub api: ApiConfig,
    pub concurrency: usize,
    pub task_timeout: Duration,
    pub janitor_frequency: Duration,
    pub recovery_enabled: bool,
    pub stale_timeout: Duration,
    pub max_attempts: i32,
    pub retention: Option<Duration>,
    pub shutdown_grace: Duration,
    pub environment: actions::Environment,
    pub catalog: CatalogConfig,
    /// Source-control hosts from `integrations.*[].host`, plus the ones Backstage knows by default.
    pub integrations: Vec<templates::Integration>,
    /// `backend.reading.allow`: other hosts fetch actions may read from.
    pub reading_allow: Vec<actions::ReadingAllow>,
    pub workspace_limits: actions::WorkspaceLimits,
    /// `integrations.github[]` with their credentials (github.com always present).
    pub github: Vec<actions::GithubIntegration>,
    /// `scaffolder.defaultAuthor` and `scaffolder.defaultCommitMessage`.
    pub git: actions::GitDefaults,
    /// Where the catalog plugin runs when it is not this process (`discovery.endpoints` naming
    /// `catalog`): its base URL, e.g. `http://catalog:7007/api/catalog`.
    pub catalog_url: Option<String>,
}

impl Settings {
    pub fn from_tree(tree: &Value, found: bool, cwd: &std::path::Path) -> Result<Self, ConfigError> {
        let r = Reader::new(tree);
        let (listen_host, listen_port) = listen(&r)?;
        let (database, database_kind) = database(&r, cwd)?;
        let working_directory = match r.string("backend.workingDirectory")? {
            Some(dir) => cwd.join(dir),
            None => std::env::temp_dir().join("scaffolder"),
        };
        // Checked now so a wrong type fails at start-up; used by features that link back to us.
        r.string("backend.baseUrl")?;
        let auth = auth(&r, found)?;
        let api = ApiConfig {
            max_body_bytes: r.integer("backend.maxRequestBodySize", 1024, 1 << 30)?.unwrap_or(10 * 1024 * 1024)
                as usize,
            max_queue_depth: r.integer("scaffolder.maxQueueDepth", 1, i64::from(i32::MAX))?.unwrap_or(10_000),
            max_concurrent_dry_runs: r.integer("scaffolder.maxConcurrentDryRuns", 1, 1000)?.unwrap_or(8) as usize,
            permissions: permissions(&r, cwd)?,
            techdocs: techdocs(&r, cwd)?,
            ..ApiConfig::default()
        };
        let concurrency = match r.get("scaffolder.concurrentTasksLimit") {
            // Backstage allows `Infinity`; a very large pool is the closest we have.
            Some(Value::String(s)) if s == "Infinity" => 10_000,
            _ => r.integer("scaffolder.concurrentTasksLimit", 0, 10_000)?.unwrap_or(10) as usize,
        };
        let recovery_enabled = match r.bool("scaffolder.taskRecovery.enabled")? {
            Some(enabled) => enabled,
            None => r.bool("scaffolder.EXPERIMENTAL_recoverTasks")?.unwrap_or(true),
        };
        let stale_timeout = match r.duration("scaffolder.taskRecovery.staleTimeout")? {
            Some(timeout) => timeout,
            None => r.duration("scaffolder.EXPERIMENTAL_recoverTasksTimeout")?.unwrap_or(Duration::from_secs(30)),
        };
        if stale_timeout < Duration::from_millis(500) {
            return Err(ConfigError::Invalid {
                key: "scaffolder.taskRecovery.staleTimeout".to_owned(),
                message: "must be at least 500 ms (heartbeats run several times per timeout)".to_owned(),
            });
        }
        let retention = r.duration("scaffolder.taskRetention")?.unwrap_or(Duration::from_secs(30 * 86_400));
        Ok(Settings {
            embedded_default: !found,
            listen_host,
            listen_port,
            database,
            database_kind,
            working_directory,
            auth,
            api,
            concurrency,
            task_timeout: r.duration("scaffolder.taskTimeout")?.unwrap_or(Duration::from_secs(24 * 3600)),
            janitor_frequency: r
                .duration("scaffolder.taskTimeoutJanitorFrequency")?
                .unwrap_or(Duration::from_secs(300)),
            recovery_enabled,
            stale_timeout,
            max_attempts: r.integer("scaffolder.taskRecovery.maxAttempts", 1, 1000)?.unwrap_or(5) as i32,
            retention: (!retention.is_zero()).then_some(retention),
            shutdown_grace: r.duration("scaffolder.shutdownGracePeriod")?.unwrap_or(Duration::from_secs(25)),
            environment: environment(&r)?,
            catalog: catalog(&r)?,
            integrations: integrations(&r)?,
            reading_allow: reading_allow(&r)?,
            workspace_limits: workspace_limits(&r)?,
            github: github(&r)?,
            git: actions::GitDefaults {
                author_name: r.string("scaffolder.defaultAuthor.name")?,
                author_email: r.string("scaffolder.defaultAuthor.email")?,
                commit_message: r.string("scaffolder.defaultCommitMessage")?,
            },
            catalog_url: discovered(&r, "catalog")?,
        })
    }

    /// Whether the service listens only on this machine.
    pub fn is_loopback(&self) -> bool {
        self.listen_host == "localhost" || self.listen_host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

fn listen(r: &Reader<'_>) -> Result<(String, u16), ConfigError> {
    let port_key = "backend.listen.port";
    let (host, port) = match r.get("backend.listen") {
        None => (None, None),
        // Backstage also accepts `listen: ':7007'` or `listen: '0.0.0.0:7007'`.
        Some(Value::String(text)) => {
            let (host, port) = text.rsplit_once(':').unwrap_or(("", text));
            let port = port.parse::<f64>().map_err(|_| ConfigError::Invalid {
                key: "backend.listen".to_owned(),
                message: format!("'{text}' is not [host]:port"),
            })?;
            ((!host.is_empty()).then(|| host.to_owned()), Some(port))
        }
        Some(_) => (r.string("backend.listen.host")?, r.number(port_key)?),
    };
    let port = match port {
        None => 7007,
        Some(p) if p.fract() == 0.0 && (0.0..=65535.0).contains(&p) => p as u16,
        Some(p) => {
            return Err(ConfigError::Invalid {
                key: port_key.to_owned(),
                message: format!("{p} is not a port number"),
            });
        }
    };
    Ok((host.filter(|h| !h.is_empty()).unwrap_or_else(|| "127.0.0.1".to_owned()), port))
}

fn database(r: &Reader<'_>, cwd: &std::path::Path) -> Result<(DbSettings, DatabaseKind), ConfigError> {
    let client = r.string("backend.database.client")?;
    match client.as_deref() {
        None | Some("better-sqlite3") | Some("sqlite3") => {
            let location = match r.get("backend.database.connection") {
                None => SqliteLocation::File(cwd.join("scaffolder.sqlite")),
                Some(Value::String(s)) if s == ":memory:" => SqliteLocation::Memory,
                Some(Value::String(path)) => SqliteLocation::File(cwd.join(path)),
                Some(Value::Object(_)) => match (
                    r.string("backend.database.connection.filename")?,
                    r.string("backend.database.connection.directory")?,
                ) {
                    (Some(name), _) if name == ":memory:" => SqliteLocation::Memory,
                    (Some(file), _) => SqliteLocation::File(cwd.join(file)),
                    // Backstage keeps one file per plugin in the directory.
                    (None, Some(directory)) => SqliteLocation::File(cwd.join(directory).join("scaffolder.sqlite")),
                    (None, None) => SqliteLocation::File(cwd.join("scaffolder.sqlite")),
                },
                Some(other) => {
                    return Err(ConfigError::WrongType {
                        key: "backend.database.connection".to_owned(),
                        found: kind_of(other),
                        wanted: "string or object",
                    });
                }
            };
            Ok((DbSettings::Sqlite(location), DatabaseKind::Sqlite))
        }
        Some("pg") | Some("postgres") | Some("postgresql") => {
            let mut pg = PgSettings {
                max_connections: r.integer("backend.database.knexConfig.pool.max", 1, 1000)?.map(|n| n as u32),
                ..PgSettings::default()
            };
            match r.get("backend.database.connection") {
                None => {}
                Some(Value::String(url)) => pg.url = Some(url.clone()),
                Some(Value::Object(_)) => {
                    pg.url = r.string("backend.database.connection.connectionString")?;
                    pg.host = r.string("backend.database.connection.host")?;
                    pg.port = r.integer("backend.database.connection.port", 1, 65535)?.map(|p| p as u16);
                    pg.user = r.string("backend.database.connection.user")?;
                    pg.password = r.string("backend.database.connection.password")?;
                    pg.database = r.string("backend.database.connection.database")?;
                }
                Some(other) => {
                    return Err(ConfigError::WrongType {
                        key: "backend.database.connection".to_owned(),
                        found: kind_of(other),
                        wanted: "string or object",
                    });
                }
            }
            Ok((DbSettings::Postgres(pg), DatabaseKind::Postgres))
        }
        Some(other) => Err(ConfigError::Invalid {
            key: "backend.database.client".to_owned(),
            message: format!(
                "unknown database client '{other}'; use pg (PostgreSQL) or better-sqlite3 (embedded SQLite)"
            ),
        }),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        _ => "value",
    }
}

fn auth(r: &Reader<'_>, found: bool) -> Result<AuthConfig, ConfigError> {
    let mut static_tokens = Vec::new();
    if let Some(entries) = r.array("backend.auth.externalAccess")? {
        for (i, entry) in entries.iter().enumerate() {
            let item = Reader::item(entry);
            let key = |field: &str| format!("backend.auth.externalAccess[{i}].{field}");
            let kind = item.string("type").map_err(|_| ConfigError::WrongType {
                key: key("type"),
                found: "value",
                wanted: "string",
            })?;
            match kind.as_deref() {
                Some("static") => {
                    let token = item.string("options.token")?.ok_or_else(|| ConfigError::Invalid {
                        key: key("options.token"),
                        message: "is required".to_owned(),
                    })?;
                    if token.len() < 8 || token.contains(char::is_whitespace) {
                        return Err(ConfigError::Invalid {
                            key: key("options.token"),
                            message: "must be at least 8 characters without whitespace".to_owned(),
                        });
                    }
                    let subject = item.string("options.subject")?.ok_or_else(|| ConfigError::Invalid {
                        key: key("options.subject"),
                        message: "is required".to_owned(),
                    })?;
                    static_tokens.push(StaticToken { token, subject });
                }
                // Other access methods (legacy, jwks) are read by the auth module when it supports them.
                Some(_) => {}
                None => return Err(ConfigError::Invalid { key: key("type"), message: "is required".to_owned() }),
            }
        }
    }
    let disable = match r.bool("backend.auth.dangerouslyDisableDefaultAuthPolicy")? {
        Some(disable) => disable,
        // The embedded default (no configuration at all) runs without tokens, on loopback only.
        None => !found,
    };
    Ok(AuthConfig {
        disable_default_policy: disable,
        static_tokens,
        issuers: token_issuers(r)?,
        ..AuthConfig::default()
    })
}

fn environment(r: &Reader<'_>) -> Result<actions::Environment, ConfigError> {
    let mut environment = actions::Environment::default();
    if let Some(parameters) = r.object("scaffolder.defaultEnvironment.parameters")? {
        environment.parameters = parameters.clone();
    }
    if let Some(secrets) = r.object("scaffolder.defaultEnvironment.secrets")? {
        for key in secrets.keys() {
            let value = r.string(&format!("scaffolder.defaultEnvironment.secrets.{key}"))?.unwrap_or_default();
            environment.secrets.insert(key.clone(), value);
        }
    }
    Ok(environment)
}

/// Integration kinds as Backstage names them under `integrations:`.
const INTEGRATION_KINDS: &[&str] =
    &["github", "gitlab", "bitbucketCloud", "bitbucketServer", "bitbucket", "azure", "gitea", "gerrit"];

fn integrations(r: &Reader<'_>) -> Result<Vec<templates::Integration>, ConfigError> {
    let mut found: Vec<templates::Integration> = Vec::new();
    if let Some(section) = r.object("integrations")? {
        for (kind, entries) in section {
            let key = format!("integrations.{kind}");
            if !INTEGRATION_KINDS.contains(&kind.as_str()) {
                // Backstage ignores kinds it does not know (awsS3, googleGcs, ...); so do we.
                continue;
            }
            let Some(entries) = entries.as_array() else {
                return Err(ConfigError::WrongType { key, found: kind_of(entries), wanted: "array" });
            };
            for (i, entry) in entries.iter().enumerate() {
                let item = Reader::item(entry);
                let host = match kind.as_str() {
                    // Bitbucket Cloud has one host.
                    "bitbucketCloud" => "bitbucket.org".to_owned(),
                    // Backstage's default for a GitHub entry without a host.
                    "github" => item.string("host")?.unwrap_or_else(|| "github.com".to_owned()),
                    _ => item.string("host")?.ok_or_else(|| ConfigError::Invalid {
                        key: format!("{key}[{i}].host"),
                        message: "is required".to_owned(),
                    })?,
                };
                if host.is_empty() || host.contains(['/', ' ', '@']) {
                    return Err(ConfigError::Invalid {
                        key: format!("{key}[{i}].host"),
                        message: format!("'{host}' is not a host name (write it without a scheme or path)"),
                    });
                }
                let kind = if kind == "bitbucket" { "bitbucketServer" } else { kind.as_str() };
                found.push(templates::Integration::new(&host, kind));
            }
        }
    }
    for default in templates::Integration::defaults() {
        if !found.iter().any(|i| i.host == default.host) {
            found.push(default);
        }
    }
    Ok(found)
}

/// `integrations.github[]`: host, `apiBaseUrl`, `token`, `apps[]` (`appId`, `privateKey`,
/// `allowedInstallationOwners`). Keys are checked here, so a bad key fails at start-up.
fn github(r: &Reader<'_>) -> Result<Vec<actions::GithubIntegration>, ConfigError> {
    let mut found = Vec::new();
    for (i, entry) in r.array("integrations.github")?.into_iter().flatten().enumerate() {
        let item = Reader::item(entry);
        let key = |field: &str| format!("integrations.github[{i}].{field}");
        let host = item.string("host")?.unwrap_or_else(|| "github.com".to_owned());
        let mut integration = actions::GithubIntegration::for_host(&host);
        if let Some(api) = item.string("apiBaseUrl")? {
            if !(api.starts_with("https://") || api.starts_with("http://")) {
                return Err(ConfigError::Invalid {
                    key: key("apiBaseUrl"),
                    message: format!("'{api}' is not an http(s) URL"),
                });
            }
            integration.api_base_url = api.trim_end_matches('/').to_owned();
        }
        integration.token = item.string("token")?.filter(|t| !t.is_empty()).map(actions::Secret::new);
        for (j, app) in item.array("apps")?.into_iter().flatten().enumerate() {
            let app_item = Reader::item(app);
            let app_key = |field: &str| format!("integrations.github[{i}].apps[{j}].{field}");
            let app_id = app_item
                .integer("appId", 1, i64::MAX)?
                .ok_or_else(|| ConfigError::Invalid { key: app_key("appId"), message: "is required".to_owned() })?;
            let private_key = app_item.string("privateKey")?.ok_or_else(|| ConfigError::Invalid {
                key: app_key("privateKey"),
                message: "is required".to_owned(),
            })?;
            let owners = app_item
                .array("allowedInstallationOwners")?
                .map(|owners| owners.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let app = actions::GithubApp {
                app_id: app_id as u64,
                private_key: actions::Secret::new(private_key),
                allowed_installation_owners: owners,
            };
            app.encoding_key().map_err(|message| ConfigError::Invalid { key: app_key("privateKey"), message })?;
            integration.apps.push(app);
        }
        found.push(integration);
    }
    Ok(found)
}

fn reading_allow(r: &Reader<'_>) -> Result<Vec<actions::ReadingAllow>, ConfigError> {
    let mut allow = Vec::new();
    for (i, entry) in r.array("backend.reading.allow")?.into_iter().flatten().enumerate() {
        let item = Reader::item(entry);
        let key = |field: &str| format!("backend.reading.allow[{i}].{field}");
        let host = item
            .string("host")?
            .ok_or_else(|| ConfigError::Invalid { key: key("host"), message: "is required".to_owned() })?;
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err(ConfigError::Invalid {
                key: key("host"),
                message: format!("'{host}' is not a host name (`*.example.com` and `example.com:8080` are)"),
            });
        }
        let mut paths = Vec::new();
        for (j, path) in item.array("paths")?.into_iter().flatten().enumerate() {
            match path.as_str() {
                Some(p) if p.starts_with('/') => paths.push(p.to_owned()),
                _ => {
                    return Err(ConfigError::Invalid {
                        key: format!("backend.reading.allow[{i}].paths[{j}]"),
                        message: "must be a path starting with /".to_owned(),
                    });
                }
            }
        }
        allow.push(actions::ReadingAllow { host, paths });
    }
    Ok(allow)
}

fn workspace_limits(r: &Reader<'_>) -> Result<actions::WorkspaceLimits, ConfigError> {
    let defaults = actions::WorkspaceLimits::default();
    let max = i64::MAX / 2;
    Ok(actions::WorkspaceLimits {
        max_files: r.integer("scaffolder.workspaceLimits.maxFiles", 1, max)?.map_or(defaults.max_files, |n| n as u64),
        max_bytes: r.integer("scaffolder.workspaceLimits.maxBytes", 1, max)?.map_or(defaults.max_bytes, |n| n as u64),
        max_render_bytes: r
            .integer("scaffolder.workspaceLimits.maxRenderBytes", 1, max)?
            .map_or(defaults.max_render_bytes, |n| n as u64),
    })
}

fn rules(value: &Value, key: &str) -> Result<Vec<Rule>, ConfigError> {
    let Some(items) = value.as_array() else {
        return Err(ConfigError::WrongType { key: key.to_owned(), found: kind_of(value), wanted: "array" });
    };
    items
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let allow = rule.get("allow").and_then(Value::as_array).ok_or_else(|| ConfigError::Invalid {
                key: format!("{key}[{i}].allow"),
                message: "must be a list of entity kinds".to_owned(),
            })?;
            Ok(Rule { allow: allow.iter().filter_map(Value::as_str).map(str::to_owned).collect() })
        })
        .collect()
}

/// `techdocs.publisher`: `local` with `publishDirectory` (relative to the working directory), or
/// `awsS3` (bucketName, region, endpoint, s3ForcePathStyle, bucketRootPath, credentials).
fn techdocs(r: &Reader<'_>, cwd: &std::path::Path) -> Result<api::TechDocsConfig, ConfigError> {
    match r.string("techdocs.publisher.type")?.as_deref() {
        None => Ok(api::TechDocsConfig::default()),
        Some("local") => Ok(api::TechDocsConfig {
            s3: None,
            publish_directory: Some(cwd.join(r.string("techdocs.publisher.local.publishDirectory")?.ok_or_else(
                || ConfigError::Invalid {
                    key: "techdocs.publisher.local.publishDirectory".to_owned(),
                    message: "is required for the local publisher".to_owned(),
                },
            )?)),
        }),
        Some("awsS3") => {
            let key = |field: &str| format!("techdocs.publisher.awsS3.{field}");
            let required = |field: &str| -> Result<String, ConfigError> {
                r.string(&key(field))?.filter(|v| !v.is_empty()).ok_or_else(|| ConfigError::Invalid {
                    key: key(field),
                    message: "is required for the awsS3 publisher".to_owned(),
                })
            };
            let endpoint = r.string(&key("endpoint"))?;
            if let Some(endpoint) = &endpoint
                && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            {
                return Err(ConfigError::Invalid {
                    key: key("endpoint"),
                    message: format!("'{endpoint}' is not an http(s) URL"),
                });
            }
            let root_path = r.string(&key("bucketRootPath"))?.unwrap_or_default();
            let root_path = match root_path.trim_matches('/') {
                "" => String::new(),
                trimmed => format!("{trimmed}/"),
            };
            Ok(api::TechDocsConfig {
                publish_directory: None,
                s3: Some(api::S3Config {
                    bucket: required("bucketName")?,
                    region: r.string(&key("region"))?.unwrap_or_else(|| "us-east-1".to_owned()),
                    endpoint,
                    path_style: r.bool(&key("s3ForcePathStyle"))?.unwrap_or(false),
                    root_path,
                    // Backstage falls back to the AWS credential chain; here they are given, e.g.
                    // `${AWS_ACCESS_KEY_ID}`.
                    access_key_id: required("credentials.accessKeyId")?,
                    secret_access_key: required("credentials.secretAccessKey")?,
                    session_token: r.string(&key("credentials.sessionToken"))?,
                }),
            })
        }
        Some(other) => Err(ConfigError::Invalid {
            key: "techdocs.publisher.type".to_owned(),
            message: format!("'{other}' is not a publisher type: use local or awsS3"),
        }),
    }
}

/// `permission.enabled` and the RBAC plugin's keys: `permission.rbac.policies-csv-file` (read and
/// checked now, so a broken policy stops start-up) and `permission.rbac.admin.superUsers[].name`.
fn permissions(r: &Reader<'_>, cwd: &std::path::Path) -> Result<api::PermissionConfig, ConfigError> {
    let enabled = r.bool("permission.enabled")?.unwrap_or(false);
    let key = "permission.rbac.policies-csv-file";
    let policy_file = r.string(key)?.map(|path| cwd.join(path));
    if enabled && let Some(path) = &policy_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Invalid { key: key.to_owned(), message: format!("{}: {e}", path.display()) })?;
        api::Policy::parse(&text).map_err(|message| ConfigError::Invalid { key: key.to_owned(), message })?;
    }
    let mut super_users = Vec::new();
    for (i, item) in r.array("permission.rbac.admin.superUsers")?.into_iter().flatten().enumerate() {
        let name = Reader::item(item).string("name")?.ok_or_else(|| ConfigError::Invalid {
            key: format!("permission.rbac.admin.superUsers[{i}].name"),
            message: "is required (a user entity ref)".to_owned(),
        })?;
        super_users.push(name.to_lowercase());
    }
    Ok(api::PermissionConfig { enabled, policy_file, super_users })
}

/// Who may sign user tokens: the Backstage installation whose `auth` plugin `discovery.endpoints`
/// names (its own user tokens, `aud: backstage`), and `auth.providers.oidc` / `.cognito` for the
/// environment `auth.environment` (default `development`).
fn token_issuers(r: &Reader<'_>) -> Result<Vec<api::TokenIssuer>, ConfigError> {
    let mut issuers = Vec::new();
    if let Some(auth) = discovered(r, "auth")? {
        issuers.push(api::TokenIssuer {
            provider: "backstage".to_owned(),
            issuer: Some(auth.clone()),
            metadata_url: None,
            jwks_url: Some(format!("{auth}/.well-known/jwks.json")),
            audience: Some("backstage".to_owned()),
            identity: api::Identity::EntityRefSubject,
        });
    }
    let environment = r.string("auth.environment")?.unwrap_or_else(|| "development".to_owned());
    for provider in ["oidc", "cognito"] {
        let base = format!("auth.providers.{provider}.{environment}");
        if r.object(&base)?.is_none() {
            continue;
        }
        let key = |field: &str| format!("{base}.{field}");
        let invalid =
            |field: &str, message: &str| ConfigError::Invalid { key: key(field), message: message.to_owned() };
        let (issuer, metadata_url) = match provider {
            "oidc" => {
                (None, Some(r.string(&key("metadataUrl"))?.ok_or_else(|| invalid("metadataUrl", "is required"))?))
            }
            _ => (Some(r.string(&key("issuer"))?.ok_or_else(|| invalid("issuer", "is required"))?), None),
        };
        for url in issuer.iter().chain(metadata_url.iter()) {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                let field = if provider == "oidc" { "metadataUrl" } else { "issuer" };
                return Err(invalid(field, &format!("'{url}' is not an http(s) URL")));
            }
        }
        let mut resolvers = Vec::new();
        for (i, item) in r.array(&key("signIn.resolvers"))?.into_iter().flatten().enumerate() {
            let name = Reader::item(item).string("resolver")?.unwrap_or_default();
            let resolver = api::Resolver::parse(&name).ok_or_else(|| ConfigError::Invalid {
                key: format!("{base}.signIn.resolvers[{i}].resolver"),
                message: format!(
                    "'{name}' is not one of emailMatchingUserEntityProfileEmail, emailLocalPartMatchingUserEntityName, usernameMatchingUserEntityName"
                ),
            })?;
            resolvers.push(resolver);
        }
        if resolvers.is_empty() {
            resolvers.push(api::Resolver::EmailMatchingUserEntityProfileEmail);
        }
        issuers.push(api::TokenIssuer {
            provider: provider.to_owned(),
            issuer,
            metadata_url,
            jwks_url: None,
            audience: r.string(&key("clientId"))?,
            identity: api::Identity::Resolvers(resolvers),
        });
    }
    Ok(issuers)
}

/// Backstage's `discovery.endpoints`: `[{target, plugins}]`, `target` a URL (or `{internal,
/// external}`, of which a backend uses `internal`) where `{{pluginId}}` stands for the plugin.
fn discovered(r: &Reader<'_>, plugin: &str) -> Result<Option<String>, ConfigError> {
    let Some(endpoints) = r.array("discovery.endpoints")? else { return Ok(None) };
    for (i, endpoint) in endpoints.iter().enumerate() {
        let reader = Reader::item(endpoint);
        let key = |field: &str| format!("discovery.endpoints[{i}].{field}");
        let plugins = reader
            .array("plugins")
            .map_err(|_| ConfigError::Invalid {
                key: key("plugins"),
                message: "must be a list of plugin ids".to_owned(),
            })?
            .ok_or_else(|| ConfigError::Invalid { key: key("plugins"), message: "is required".to_owned() })?;
        if !plugins.iter().any(|p| p.as_str() == Some(plugin)) {
            continue;
        }
        let target = match reader.get("target") {
            Some(Value::String(target)) => target.clone(),
            Some(Value::Object(_)) => reader.string("target.internal")?.ok_or_else(|| ConfigError::Invalid {
                key: key("target.internal"),
                message: "is required when target is an object".to_owned(),
            })?,
            _ => {
                return Err(ConfigError::Invalid {
                    key: key("target"),
                    message: "must be a URL, or an object with internal and external URLs".to_owned(),
                });
            }
        };
        let url = target.replace("{{pluginId}}", plugin).replace("{{ pluginId }}", plugin);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid { key: key("target"), message: format!("'{url}' is not an http(s) URL") });
        }
        return Ok(Some(url.trim_end_matches('/').to_owned()));
    }
    Ok(None)
}

fn catalog(r: &Reader<'_>) -> Result<CatalogConfig, ConfigError> {
    let rules_config = r.get("catalog.rules").map(|v| rules(v, "catalog.rules")).transpose()?;
    let mut locations = Vec::new();
    if let Some(items) = r.array("catalog.locations")? {
        for (i, item) in items.iter().enumerate() {
            let reader = Reader::item(item);
            let key = |field: &str| format!("catalog.locations[{i}].{field}");
            let kind = reader
                .string("type")?
                .ok_or_else(|| ConfigError::Invalid { key: key("type"), message: "is required".to_owned() })?;
            let target = reader
                .string("target")?
                .ok_or_else(|| ConfigError::Invalid { key: key("target"), message: "is required".to_owned() })?;
            let rules = reader.get("rules").map(|v| rules(v, &key("rules"))).transpose()?;
            locations.push(LocationConfig { kind, target, rules });
        }
    }
    let orphan_strategy = match r.string("catalog.orphanStrategy")?.as_deref() {
        None | Some("keep") => catalog::OrphanStrategy::Keep,
        Some("delete") => catalog::OrphanStrategy::Delete,
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "catalog.orphanStrategy".to_owned(),
                message: format!("'{other}' is not keep or delete"),
            });
        }
    };
    let refresh_interval = r.duration("catalog.processingInterval")?.unwrap_or(Duration::from_secs(100));
    Ok(CatalogConfig { rules: rules_config, locations, orphan_strategy, refresh_interval })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings(tree: Value) -> Result<Settings, ConfigError> {
        Settings::from_tree(&tree, true, std::path::Path::new("/srv"))
    }

    #[test]
    fn defaults_follow_the_design() {
        let s = Settings::from_tree(&json!({}), false, std::path::Path::new("/srv")).unwrap();
        assert!(s.embedded_default);
        assert_eq!((s.listen_host.as_str(), s.listen_port), ("127.0.0.1", 7007));
        assert_eq!(s.database_kind, DatabaseKind::Sqlite);
        assert!(
            matches!(&s.database, DbSettings::Sqlite(SqliteLocation::File(p)) if p == std::path::Path::new("/srv/scaffolder.sqlite"))
        );
        assert!(s.auth.disable_default_policy);
        assert_eq!(s.concurrency, 10);
        assert!(s.recovery_enabled);
        assert_eq!(s.stale_timeout, Duration::from_secs(30));
        assert_eq!(s.shutdown_grace, Duration::from_secs(25));
        assert_eq!(s.api.max_queue_depth, 10_000);
        // A configuration file of one's own requires tokens unless it says otherwise.
        assert!(!settings(json!({})).unwrap().auth.disable_default_policy);
    }

    #[test]
    fn techdocs_publishers() {
        assert!(settings(json!({})).unwrap().api.techdocs.s3.is_none());
        let s = settings(json!({"techdocs": {"publisher": {"type": "local", "local": {"publishDirectory": "site"}}}}))
            .unwrap();
        assert_eq!(s.api.techdocs.publish_directory.as_deref(), Some(std::path::Path::new("/srv/site")));
        let s = settings(json!({"techdocs": {"publisher": {"type": "awsS3", "awsS3": {
            "bucketName": "docs", "region": "eu-west-1", "endpoint": "http://minio:9000", "s3ForcePathStyle": true,
            "bucketRootPath": "/sites/", "credentials": {"accessKeyId": "AKID", "secretAccessKey": "secret"}}}}}))
        .unwrap();
        let s3 = s.api.techdocs.s3.unwrap();
        assert_eq!((s3.bucket.as_str(), s3.root_path.as_str(), s3.path_style), ("docs", "sites/", true));
        assert!(!format!("{s3:?}").contains("secret"), "the secret key stays out of debug output");
        for (tree, key) in [
            (json!({"techdocs": {"publisher": {"type": "gcs"}}}), "techdocs.publisher.type"),
            (json!({"techdocs": {"publisher": {"type": "local"}}}), "techdocs.publisher.local.publishDirectory"),
            (
                json!({"techdocs": {"publisher": {"type": "awsS3", "awsS3": {"credentials": {"accessKeyId": "a", "secretAccessKey": "b"}}}}}),
                "techdocs.publisher.awsS3.bucketName",
            ),
            (
                json!({"techdocs": {"publisher": {"type": "awsS3", "awsS3": {"bucketName": "d"}}}}),
                "techdocs.publisher.awsS3.credentials.accessKeyId",
            ),
            (
                json!({"techdocs": {"publisher": {"type": "awsS3", "awsS3": {"bucketName": "d", "endpoint": "minio:9000"}}}}),
                "techdocs.publisher.awsS3.endpoint",
            ),
        ] {
            let error = settings(tree).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn permission_policies_are_checked_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.csv"), "p, role:default/a, scaffolder.task.create, create, allow\n")
            .unwrap();
        std::fs::write(dir.path().join("bad.csv"), "p, role:default/a, scaffolder.task.create\n").unwrap();
        let read = |file: &str| {
            Settings::from_tree(
                &json!({"permission": {"enabled": true, "rbac": {"policies-csv-file": file, "admin": {"superUsers": [{"name": "user:default/Root"}]}}}}),
                true,
                dir.path(),
            )
        };
        let s = read("good.csv").unwrap();
        assert!(s.api.permissions.enabled);
        assert_eq!(s.api.permissions.super_users, ["user:default/root"]);
        for (file, says) in [("bad.csv", "line 1"), ("missing.csv", "missing.csv")] {
            let error = read(file).unwrap_err().to_string();
            assert!(error.contains("permission.rbac.policies-csv-file") && error.contains(says), "{error}");
        }
    }

    #[test]
    fn user_token_issuers_from_discovery_and_providers() {
        assert!(settings(json!({})).unwrap().auth.issuers.is_empty());
        let s = settings(json!({
            "discovery": {"endpoints": [{"target": "http://backstage:7007/api/{{pluginId}}", "plugins": ["auth"]}]},
            "auth": {"environment": "production", "providers": {
                "cognito": {"production": {"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/pool", "clientId": "abc",
                    "signIn": {"resolvers": [{"resolver": "emailLocalPartMatchingUserEntityName"}]}}},
                "oidc": {"development": {"metadataUrl": "https://ignored"}},
            }},
        }))
        .unwrap();
        let issuers = &s.auth.issuers;
        assert_eq!(issuers.len(), 2);
        assert_eq!(issuers[0].jwks_url.as_deref(), Some("http://backstage:7007/api/auth/.well-known/jwks.json"));
        assert_eq!(issuers[0].audience.as_deref(), Some("backstage"));
        assert_eq!(issuers[1].issuer.as_deref(), Some("https://cognito-idp.eu-west-1.amazonaws.com/pool"));
        assert_eq!(
            issuers[1].identity,
            api::Identity::Resolvers(vec![api::Resolver::EmailLocalPartMatchingUserEntityName])
        );
        for (tree, key) in [
            (
                json!({"auth": {"providers": {"oidc": {"development": {}}}}}),
                "auth.providers.oidc.development.metadataUrl",
            ),
            (
                json!({"auth": {"providers": {"cognito": {"development": {"issuer": "cognito"}}}}}),
                "auth.providers.cognito.development.issuer",
            ),
            (
                json!({"auth": {"providers": {"oidc": {"development": {"metadataUrl": "https://x", "signIn": {"resolvers": [{"resolver": "guest"}]}}}}}}),
                "auth.providers.oidc.development.signIn.resolvers[0].resolver",
            ),
        ] {
            let error = settings(tree).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn discovery_endpoints_place_the_catalog() {
        assert_eq!(settings(json!({})).unwrap().catalog_url, None);
        let s = settings(json!({"discovery": {"endpoints": [
            {"target": "http://docs:7007/api/{{pluginId}}", "plugins": ["techdocs"]},
            {"target": {"internal": "http://catalog.internal:7007/api/{{ pluginId }}/", "external": "https://x"}, "plugins": ["catalog", "search"]},
        ]}}))
        .unwrap();
        assert_eq!(s.catalog_url.as_deref(), Some("http://catalog.internal:7007/api/catalog"));
        for (tree, key) in [
            (json!({"discovery": {"endpoints": [{"target": "http://x"}]}}), "discovery.endpoints[0].plugins"),
            (
                json!({"discovery": {"endpoints": [{"target": 7, "plugins": ["catalog"]}]}}),
                "discovery.endpoints[0].target",
            ),
            (
                json!({"discovery": {"endpoints": [{"target": "ftp://x", "plugins": ["catalog"]}]}}),
                "discovery.endpoints[0].target",
            ),
            (
                json!({"discovery": {"endpoints": [{"target": {"external": "http://x"}, "plugins": ["catalog"]}]}}),
                "discovery.endpoints[0].target.internal",
            ),
        ] {
            let error = settings(tree).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn reads_backstage_keys() {
        let s = settings(json!({
            "backend": {
                "listen": {"host": "0.0.0.0", "port": "8080"},
                "database": {"client": "pg", "connection": {"host": "db", "port": 5433, "user": "u", "password": "p", "database": "d"}},
                "auth": {"externalAccess": [{"type": "static", "options": {"token": "abcdefgh12", "subject": "ci"}}]},
            },
            "scaffolder": {"concurrentTasksLimit": 0, "taskTimeout": "PT10M", "taskRecovery": {"enabled": false, "staleTimeout": {"seconds": 5}}},
            "catalog": {"rules": [{"allow": ["Template"]}], "locations": [{"type": "file", "target": "t.yaml"}]},
        }))
        .unwrap();
        assert_eq!((s.listen_host.as_str(), s.listen_port), ("0.0.0.0", 8080));
        assert!(!s.is_loopback());
        let DbSettings::Postgres(pg) = &s.database else { panic!() };
        assert_eq!((pg.host.as_deref(), pg.port, pg.database.as_deref()), (Some("db"), Some(5433), Some("d")));
        assert_eq!(s.auth.static_tokens[0].subject, "ci");
        assert_eq!(s.concurrency, 0);
        assert_eq!(s.task_timeout, Duration::from_secs(600));
        assert!(!s.recovery_enabled);
        assert_eq!(s.stale_timeout, Duration::from_secs(5));
        assert_eq!(s.catalog.locations[0].target, "t.yaml");
        assert_eq!(settings(json!({"backend": {"listen": ":9000"}})).unwrap().listen_port, 9000);
    }

    #[test]
    fn github_integrations_and_git_defaults() {
        let s = settings(json!({
            "integrations": {"github": [
                {"host": "github.com", "token": "ghp_x"},
                {"host": "ghe.example.com", "apiBaseUrl": "https://ghe.example.com/api/v3/"},
            ]},
            "scaffolder": {"defaultAuthor": {"name": "Bot", "email": "bot@example.com"}, "defaultCommitMessage": "feat: scaffolded"},
        }))
        .unwrap();
        assert_eq!(s.github.len(), 2);
        assert_eq!(s.github[0].token.as_ref().map(actions::Secret::expose), Some("ghp_x"));
        assert_eq!(s.github[1].api_base_url, "https://ghe.example.com/api/v3");
        assert_eq!(s.git.author_name.as_deref(), Some("Bot"));
        assert_eq!(s.git.commit_message.as_deref(), Some("feat: scaffolded"));
        let bad_key = settings(
            json!({"integrations": {"github": [{"host": "github.com", "apps": [{"appId": 1, "privateKey": "nope"}]}]}}),
        );
        assert!(bad_key.unwrap_err().to_string().contains("integrations.github[0].apps[0].privateKey"));
        let bad_api = settings(json!({"integrations": {"github": [{"host": "x", "apiBaseUrl": "ftp://x"}]}}));
        assert!(bad_api.unwrap_err().to_string().contains("integrations.github[0].apiBaseUrl"));
    }

    #[test]
    fn integrations_reading_and_limits() {
        let s = settings(json!({
            "integrations": {"github": [{"host": "ghe.example.com", "token": "t"}], "awsS3": [{"bucket": "b"}]},
            "backend": {"reading": {"allow": [{"host": "*.example.org", "paths": ["/templates/"]}]}},
            "scaffolder": {"workspaceLimits": {"maxFiles": 10, "maxBytes": "2048"}},
        }))
        .unwrap();
        let hosts: Vec<&str> = s.integrations.iter().map(|i| i.host.as_str()).collect();
        assert_eq!(hosts, ["ghe.example.com", "github.com", "gitlab.com", "bitbucket.org", "dev.azure.com"]);
        assert_eq!(s.reading_allow[0].host, "*.example.org");
        assert_eq!(s.reading_allow[0].paths, ["/templates/"]);
        assert_eq!((s.workspace_limits.max_files, s.workspace_limits.max_bytes), (10, 2048));
        assert_eq!(s.workspace_limits.max_render_bytes, actions::WorkspaceLimits::default().max_render_bytes);
    }

    #[test]
    fn wrong_values_name_their_key() {
        let cases = [
            (json!({"backend": {"database": {"client": "mysql"}}}), "backend.database.client"),
            (json!({"backend": {"listen": {"port": "http"}}}), "backend.listen.port"),
            (json!({"backend": {"listen": {"port": 70000}}}), "backend.listen.port"),
            (json!({"scaffolder": {"concurrentTasksLimit": "many"}}), "scaffolder.concurrentTasksLimit"),
            (json!({"scaffolder": {"taskTimeout": "soon"}}), "scaffolder.taskTimeout"),
            (json!({"scaffolder": {"taskRecovery": {"enabled": "yes"}}}), "scaffolder.taskRecovery.enabled"),
            (
                json!({"backend": {"auth": {"externalAccess": [{"type": "static", "options": {"token": "short", "subject": "x"}}]}}}),
                "backend.auth.externalAccess[0].options.token",
            ),
            (json!({"catalog": {"locations": [{"type": "file"}]}}), "catalog.locations[0].target"),
            (json!({"catalog": {"rules": {"allow": []}}}), "catalog.rules"),
            (json!({"catalog": {"orphanStrategy": "burn"}}), "catalog.orphanStrategy"),
            (json!({"integrations": {"github": {"host": "x"}}}), "integrations.github"),
            (json!({"integrations": {"gitlab": [{"token": "x"}]}}), "integrations.gitlab[0].host"),
            (
                json!({"integrations": {"gitlab": [{"host": "https://gitlab.example.com"}]}}),
                "integrations.gitlab[0].host",
            ),
            (json!({"backend": {"reading": {"allow": [{"paths": ["/x"]}]}}}), "backend.reading.allow[0].host"),
            (
                json!({"backend": {"reading": {"allow": [{"host": "a.example", "paths": ["x"]}]}}}),
                "backend.reading.allow[0].paths[0]",
            ),
            (json!({"scaffolder": {"workspaceLimits": {"maxFiles": 0}}}), "scaffolder.workspaceLimits.maxFiles"),
            (json!({"scaffolder": {"workspaceLimits": {"maxBytes": "lots"}}}), "scaffolder.workspaceLimits.maxBytes"),
        ];
        for (tree, key) in cases {
            let error = settings(tree.clone()).unwrap_err().to_string();
            assert!(error.contains(key), "{tree}: {error}");
        }
    }
}
