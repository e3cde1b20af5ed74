//! Why a policy was rejected.

/// A policy that does not hold together. The message names the resource and
/// the field at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// A regular expression does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    BadRegex {
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
    /// Two services share a host.
    #[error("service {host:?} is declared twice")]
    DuplicateService {
        /// The host.
        host: String,
    },
    /// Two subsets of a service share a name.
    #[error("service {host:?}: subset {subset:?} is declared twice")]
    DuplicateSubset {
        /// The service.
        host: String,
        /// The subset.
        subset: String,
    },
    /// A host is routed by two route tables.
    #[error("host {host:?} is routed by both {first:?} and {second:?}")]
    DuplicateRouteHost {
        /// The host.
        host: String,
        /// The first route table.
        first: String,
        /// The second route table.
        second: String,
    },
    /// A route sends traffic to a service nobody declared.
    #[error("{table}: route {route:?} sends to unknown service {host:?}{hint}")]
    UnknownService {
        /// The route table.
        table: String,
        /// The route.
        route: String,
        /// The unknown host.
        host: String,
        /// A suggestion, such as ` (did you mean "attendees"?)`.
        hint: String,
    },
    /// A route names a subset its service does not have.
    #[error(
        "{table}: route {route:?} sends to subset {subset:?} of {host:?}, which has no such subset{hint}"
    )]
    UnknownSubset {
        /// The route table.
        table: String,
        /// The route.
        route: String,
        /// The service.
        host: String,
        /// The unknown subset.
        subset: String,
        /// A suggestion.
        hint: String,
    },
    /// A route names a port its service does not listen on.
    #[error("{table}: route {route:?} sends to port {port} of {host:?}, which does not declare it")]
    UnknownPort {
        /// The route table.
        table: String,
        /// The route.
        route: String,
        /// The service.
        host: String,
        /// The port.
        port: u16,
    },
    /// A route has no destination, or weights that add up to zero.
    #[error("{table}: route {route:?} has no destination with a positive weight")]
    NoDestination {
        /// The route table.
        table: String,
        /// The route.
        route: String,
    },
    /// A retry policy that cannot work.
    #[error("{table}: route {route:?}: {reason}")]
    BadRetry {
        /// The route table.
        table: String,
        /// The route.
        route: String,
        /// What is wrong.
        reason: String,
    },
    /// A rate limit that cannot work.
    #[error("rate limit {name:?}: {reason}")]
    BadRateLimit {
        /// The policy.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// ` (did you mean "x"?)` when one of `candidates` is close to `wrong`, or
/// the empty string.
pub(crate) fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    crate::suggest::closest(wrong, candidates)
        .map(|c| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}
