//! Static configuration: Istio-dialect YAML loaded into a validated
//! [`Policy`], with no control plane.
//!
//! [`load_path`] reads a file or a directory (every `*.yaml` and `*.yml`
//! file in it, by name, not recursively; dotfiles are skipped; an empty
//! directory is an empty policy), [`load_str`] one string and
//! [`load_documents`] several named strings. Files may hold several
//! documents separated by `---`. Each has a `_with` variant taking
//! [`LoadOptions`]: the trust domain (`cluster.local` by default) and the
//! root namespace (`istio-system` by default).
//!
//! # What is read
//!
//! | kind | apiVersion | becomes |
//! |---|---|---|
//! | `ServiceEntry` | `networking.istio.io/v1`, `v1beta1`, `v1alpha3` | one [`Service`](crate::policy::Service) per host; `subjectAltNames` (SPIFFE IDs) join its [`UpstreamTls`](crate::policy::UpstreamTls) `identities` |
//! | `WorkloadEntry` | same | endpoints of the `ServiceEntry`s whose `workloadSelector` matches its labels, in its namespace; its `serviceAccount` joins their `identities` as `spiffe://<trust domain>/ns/<its namespace>/sa/<account>` |
//! | `DestinationRule` | same | the service's subsets, load balancer and `trafficPolicy.tls.mode` (`ISTIO_MUTUAL`, `DISABLE`; unset is auto mTLS) (a service with no endpoints if no `ServiceEntry` declares the host) |
//! | `VirtualService` | same | a [`RouteTable`](crate::policy::RouteTable) named after it |
//! | `PeerAuthentication` | `security.istio.io/v1`, `v1beta1` | a [`PeerAuthentication`](crate::policy::PeerAuthentication) in the policy's [`Security`](crate::policy::Security) |
//! | `AuthorizationPolicy` | same | an [`AuthorizationPolicy`](crate::policy::AuthorizationPolicy) in the policy's [`Security`](crate::policy::Security) |
//! | `LocalRateLimit` | `policy.mesh.rs/v1alpha1` | a [`LocalRateLimit`](crate::policy::LocalRateLimit) (the mesh's own kind) |
//!
//! Fields follow Istio's meaning. Fields Istio has that we do not support
//! yet (`fault`, `mirror`, `rewrite`, `corsPolicy`, `gateways`, `tcp`,
//! `RANDOM` balancing, `resolution: DNS`, `portLevelMtls`, `ipBlocks`,
//! `requestPrincipals`, `targetRefs`, `AUDIT` and `CUSTOM` actions, `SIMPLE`
//! and `MUTUAL` TLS with certificate files, ...) are errors that say "not
//! supported yet": nothing is silently ignored. Unknown fields are errors
//! with the nearest valid name. Where we differ from Istio:
//!
//! - `ServiceEntry.resolution` defaults to `STATIC`, the only one we
//!   support (Istio's default is `NONE`), and endpoint addresses must be IP
//!   addresses. Each endpoint serves the service's first port.
//! - `VirtualService` `http[].retries` takes two mesh extensions: `backoff`
//!   as `{baseInterval, maxInterval}` (a plain duration, as Istio 1.26
//!   writes it, sets the base; the maximum defaults to ten times the base)
//!   and `budget: {retryRatio, minRetriesPerSecond}`, the share of requests
//!   that may be retries. `attempts` defaults to 2, as in Istio.
//! - Header matches take `present: true|false` besides Istio's `{}`
//!   (present, or absent under `withoutHeaders`).
//! - `AuthorizationPolicy`: no `rules` and `rules: []` both mean no rules
//!   (an `ALLOW` policy that denies every request), a rule `{}` matches
//!   every request. As Istio's validation, a `DENY` policy with no rules,
//!   an empty `from`, `to`, `source` or `operation`, and a condition with
//!   neither `values` nor `notValues` are errors. Wildcards follow Istio
//!   (`abc*`, `*abc`, `*`); any other `*` is an error. Principals starting
//!   with `spiffe://` are errors (Istio writes them without it). Ports may
//!   be written as strings (`"8080"`, as Istio does) or numbers.
//! - `DestinationRule` `tls` needs a `mode` (Istio reads a missing one as
//!   `DISABLE`), and is read only at the top level, not per subset.
//!   `ServiceEntry.subjectAltNames` must be SPIFFE IDs.
//!
//! The mesh's own kind for rate limits (`match` is optional; without it the
//! whole service is limited; `tokensPerFill` defaults to 1):
//!
//! ```yaml
//! apiVersion: policy.mesh.rs/v1alpha1
//! kind: LocalRateLimit
//! metadata: {name: sessions-limit}
//! spec:
//!   host: sessions
//!   tokenBucket: {maxTokens: 10, tokensPerFill: 10, fillInterval: 1s}
//!   match: {uri: {prefix: /conference.Sessions/}}
//! ```
//!
//! # Errors
//!
//! A [`ConfigError`] lists every problem found, one per line, each naming
//! the file and line, the resource, the field and, where it can, a fix:
//!
//! ```text
//! seed.yaml:12: VirtualService "sessions": spec.http[0].route[0].destination: unknown field `subnet` (did you mean `subset`?)
//! ```
//!
//! # Example
//!
//! ```
//! use mesh_core::policy::Destination;
//!
//! let yaml = r#"
//! apiVersion: networking.istio.io/v1
//! kind: ServiceEntry
//! metadata: {name: attendees}
//! spec:
//!   hosts: [attendees]
//!   ports: [{number: 50051, name: grpc, protocol: GRPC}]
//!   endpoints:
//!   - {address: 127.0.0.1, ports: {grpc: 50061}, labels: {version: v1}}
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: DestinationRule
//! metadata: {name: attendees}
//! spec:
//!   host: attendees
//!   subsets: [{name: v1, labels: {version: v1}}]
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: attendees}
//! spec:
//!   hosts: [attendees]
//!   http:
//!   - route:
//!     - destination: {host: attendees, subset: v1}
//!     timeout: 1.5s
//! "#;
//! let policy = mesh_core::config::load_str("mesh.yaml", yaml).unwrap();
//! let v1 = policy.endpoints(&Destination::new("attendees").subset("v1")).unwrap();
//! assert_eq!(v1.endpoints[0].address.to_string(), "127.0.0.1:50061");
//!
//! let err = mesh_core::config::load_str("bad.yaml", &yaml.replace("subset: v1", "subnet: v1"))
//!     .unwrap_err();
//! assert!(err.to_string().contains("unknown field `subnet` (did you mean `subset`?)"));
//! ```

mod assemble;
mod authorization_policy;
mod cache;
mod destination_rule;
mod document;
mod duration;
mod error;
mod matching;
mod options;
mod peer_authentication;
mod rate_limit;
mod retry;
mod service_entry;
mod virtual_service;
mod walk;
mod yaml;

use std::fs;
use std::path::Path;

pub use cache::SourceCache;
pub use error::{ConfigError, Problem, ResourceRef};
pub use options::{DEFAULT_TRUST_DOMAIN, LoadOptions};

use crate::policy::Policy;
use assemble::Loaded;

/// Loads a file, or every `*.yaml` and `*.yml` file of a directory (sorted
/// by name, not recursive, dotfiles skipped). An empty directory yields an
/// empty policy.
pub fn load_path(path: &Path) -> Result<Policy, ConfigError> {
    load_path_with(path, &LoadOptions::default())
}

/// [`load_path`] with `options`.
pub fn load_path_with(path: &Path, options: &LoadOptions) -> Result<Policy, ConfigError> {
    load_documents_with(&read_sources(path)?, options)
}

/// The `(file name, text)` of a file, or of every `*.yaml` and `*.yml`
/// file of a directory (sorted by name, not recursive, dotfiles skipped).
fn read_sources(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let name = path.display().to_string();
    let io_problem =
        |file: String, e: std::io::Error| problem_in(file, format!("cannot read: {e}"));
    if !path.is_dir() {
        let text = fs::read_to_string(path).map_err(|e| io_problem(name.clone(), e))?;
        return Ok(vec![(name, text)]);
    }
    let entries = fs::read_dir(path).map_err(|e| io_problem(name.clone(), e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_problem(name.clone(), e))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let is_yaml = file_name.ends_with(".yaml") || file_name.ends_with(".yml");
        if is_yaml && !file_name.starts_with('.') && entry.path().is_file() {
            files.push((file_name, entry.path()));
        }
    }
    files.sort();
    let mut docs = Vec::with_capacity(files.len());
    for (_, file) in files {
        let shown = file.display().to_string();
        let text = fs::read_to_string(&file).map_err(|e| io_problem(shown.clone(), e))?;
        docs.push((shown, text));
    }
    Ok(docs)
}

/// Loads one YAML string; `source_name` stands for the file in errors.
pub fn load_str(source_name: &str, yaml: &str) -> Result<Policy, ConfigError> {
    load_str_with(source_name, yaml, &LoadOptions::default())
}

/// [`load_str`] with `options`.
pub fn load_str_with(
    source_name: &str,
    yaml: &str,
    options: &LoadOptions,
) -> Result<Policy, ConfigError> {
    load_documents_with(&[(source_name.to_owned(), yaml.to_owned())], options)
}

/// Loads several YAML sources, each a `(file name, text)` pair, into one
/// policy. Every document of every source is read before any error is
/// returned, so the error lists all problems found.
pub fn load_documents(sources: &[(String, String)]) -> Result<Policy, ConfigError> {
    load_documents_with(sources, &LoadOptions::default())
}

/// [`load_documents`] with `options`.
pub fn load_documents_with(
    sources: &[(String, String)],
    options: &LoadOptions,
) -> Result<Policy, ConfigError> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for (file, text) in sources {
        let source = read_source(file, text, options);
        loaded.extend(source.loaded);
        problems.extend(source.problems);
    }
    assemble_all(&loaded, problems, options)
}

/// What one source's documents read into: the resources that read
/// cleanly, and the problems of the others.
#[derive(Debug, Clone, Default)]
struct ReadSource {
    loaded: Vec<Loaded>,
    problems: Vec<Problem>,
}

/// Parses one source and reads each of its documents.
fn read_source(file: &str, text: &str, options: &LoadOptions) -> ReadSource {
    let mut out = ReadSource::default();
    let nodes = match yaml::parse_documents(text) {
        Ok(nodes) => nodes,
        Err(e) => {
            out.problems.push(Problem {
                line: e.line,
                ..problem(file.to_owned(), format!("invalid YAML: {}", e.message))
            });
            return out;
        }
    };
    for (i, node) in nodes.iter().enumerate() {
        match document::read(node, options) {
            document::Outcome::Read(resource, inner) => out.loaded.push(Loaded {
                file: file.to_owned(),
                document: i + 1,
                resource,
                inner,
            }),
            document::Outcome::Failed(resource, issues) => {
                out.problems.extend(issues.into_iter().map(|issue| Problem {
                    file: file.to_owned(),
                    line: (issue.line > 0).then_some(issue.line),
                    document: Some(i + 1),
                    resource: resource.clone(),
                    field: issue.field,
                    message: issue.message,
                    hint: issue.hint,
                    policy: None,
                }));
            }
        }
    }
    out
}

/// The policy of every source's resources, unless any source had
/// problems: then all of them, after those of `options` themselves.
fn assemble_all(
    loaded: &[Loaded],
    problems: Vec<Problem>,
    options: &LoadOptions,
) -> Result<Policy, ConfigError> {
    let mut all: Vec<Problem> = options
        .problems()
        .into_iter()
        .map(|message| problem(String::new(), message))
        .collect();
    all.extend(problems);
    if let Some(err) = ConfigError::from_problems(all) {
        return Err(err);
    }
    assemble::assemble(loaded, options).map_err(|problems| {
        ConfigError::from_problems(problems)
            .unwrap_or_else(|| problem_in(String::new(), "invalid configuration".into()))
    })
}

fn problem(file: String, message: String) -> Problem {
    Problem {
        file,
        line: None,
        document: None,
        resource: None,
        field: None,
        message,
        hint: None,
        policy: None,
    }
}

fn problem_in(file: String, message: String) -> ConfigError {
    ConfigError::single(problem(file, message))
}
