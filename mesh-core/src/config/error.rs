//! Why a configuration was rejected: every problem found, each naming the
//! file, line, resource and field at fault.

use std::fmt;

use crate::policy::PolicyError;

/// A configuration that cannot become a policy. Holds every problem found
/// (at least one), so an operator can fix them all in one go; `Display`
/// prints one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", DisplayLines(.problems))]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    /// Wraps problems; `None` when there are none.
    pub(super) fn from_problems(problems: Vec<Problem>) -> Option<Self> {
        (!problems.is_empty()).then_some(Self { problems })
    }

    /// One problem.
    pub(super) fn single(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
        }
    }

    /// Every problem, in file and document order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The first problem.
    pub fn first(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

struct DisplayLines<'a>(&'a [Problem]);

impl fmt::Display for DisplayLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The resource a problem is in: `VirtualService "attendees"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// The resource's kind as written (`VirtualService`).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if written.
    pub namespace: Option<String>,
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind, self.name)
    }
}

/// One thing wrong with the configuration.
///
/// Displays as `file:line: Kind "name": field.path: message (hint)`, leaving
/// out the parts that are unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or source name) the problem is in.
    pub file: String,
    /// The 1-based line, where known.
    pub line: Option<u64>,
    /// The 1-based position of the document in its file (documents are
    /// separated by `---`); `None` for problems that are not in one document.
    pub document: Option<usize>,
    /// The resource, once its kind and name are known.
    pub resource: Option<ResourceRef>,
    /// The path of the field at fault (`spec.http[0].route[0].destination`),
    /// or `None` for the resource as a whole.
    pub field: Option<String>,
    /// What is wrong, lowercase.
    pub message: String,
    /// What to do about it (`did you mean `subset`?`), if anything.
    pub hint: Option<String>,
    /// The policy validation error this problem reports, if it came from
    /// [`crate::policy::PolicyBuilder::build`].
    pub policy: Option<PolicyError>,
}

impl std::error::Error for Problem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.policy.as_ref().map(|e| e as _)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        match (&self.resource, self.document) {
            (Some(r), _) => write!(f, "{r}: ")?,
            (None, Some(d)) => write!(f, "document {d}: ")?,
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// `did you mean `x`?` for the candidate nearest to `wrong`, if any: one
/// that differs only in case, or else the closest by edit distance.
pub(super) fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    candidates
        .iter()
        .copied()
        .find(|c| *c != wrong && c.eq_ignore_ascii_case(wrong))
        .or_else(|| crate::suggest::closest(wrong, candidates.iter().copied()))
        .map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> Problem {
        Problem {
            file: "seed.yaml".into(),
            line: None,
            document: Some(2),
            resource: Some(ResourceRef {
                kind: "VirtualService".into(),
                name: "attendees".into(),
                namespace: None,
            }),
            field: Some("spec.http[0].route[0].destination".into()),
            message: "unknown field `subnet`".into(),
            hint: Some("did you mean `subset`?".into()),
            policy: None,
        }
    }

    #[test]
    fn display_names_file_resource_field_and_hint() {
        assert_eq!(
            problem().to_string(),
            "seed.yaml: VirtualService \"attendees\": spec.http[0].route[0].destination: \
             unknown field `subnet` (did you mean `subset`?)"
        );
        let with_line = Problem {
            line: Some(12),
            ..problem()
        };
        assert!(
            with_line
                .to_string()
                .starts_with("seed.yaml:12: VirtualService")
        );
    }

    #[test]
    fn display_falls_back_to_the_document_number() {
        let p = Problem {
            resource: None,
            field: None,
            hint: None,
            message: "unknown kind".into(),
            ..problem()
        };
        assert_eq!(p.to_string(), "seed.yaml: document 2: unknown kind");
    }

    #[test]
    fn config_error_prints_one_problem_per_line() {
        let err = ConfigError::from_problems(vec![problem(), problem()]);
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(text.lines().count(), 2);
        assert!(ConfigError::from_problems(Vec::new()).is_none());
    }
}
