//! Slash merging and dot-segment removal.

/// Merges repeated slashes and resolves `.` and `..` segments as RFC 3986
/// `remove_dot_segments` does; `..` at the root stays at the root. A
/// trailing slash is kept, and a final `.` or `..` leaves one
/// (`/a/b/..` → `/a/`). `path` starts with `/`.
pub(super) fn resolve(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(1) {
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            _ => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_resolves() {
        for (path, resolved) in [
            ("/", "/"),
            ("//", "/"),
            ("/a", "/a"),
            ("/a/", "/a/"),
            ("//a//b//", "/a/b/"),
            ("/./a", "/a"),
            ("/a/.", "/a/"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/b/..", "/a/"),
            ("/..", "/"),
            ("/../../a", "/a"),
            ("/a/..", "/"),
            ("/a/.../b", "/a/.../b"),
            ("/a/..b/.c", "/a/..b/.c"),
            ("/a/..;/b", "/a/..;/b"),
        ] {
            assert_eq!(resolve(path), resolved, "{path}");
        }
    }
}
