//! The file watcher: loading, swapping on rewrite, keeping the old
//! certificate on a bad rewrite, and stopping with the identity.

use std::path::Path;
use std::time::Duration;

use crate::files;
use crate::testing::{LeafOptions, TestCa, TestLeaf};
use crate::{FileWatcher, Identity, IdentityError};

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    fn write_leaf(&self, leaf: &TestLeaf) {
        self.write("key.pem", &leaf.key_pem);
        self.write("cert.pem", &leaf.chain_pem);
    }

    fn watcher(&self, refresh: Duration) -> FileWatcher {
        FileWatcher::new(
            self.path("cert.pem"),
            self.path("key.pem"),
            self.path("ca.pem"),
            "cluster.local",
        )
        .with_refresh_interval(refresh)
    }
}

const FAST: Duration = Duration::from_millis(10);

#[tokio::test]
async fn rewriting_the_files_swaps_the_identity() {
    let ca = TestCa::new("cluster.local");
    let files = Files::new();
    files.write_leaf(&ca.leaf(LeafOptions::new(&ca.id("default", "old"))));
    files.write("ca.pem", ca.root_pem());
    let identity = Identity::from_files(files.watcher(FAST)).unwrap();
    assert_eq!(identity.id(), ca.id("default", "old"));
    let mut rotations = identity.rotations();
    assert_eq!(*rotations.borrow_and_update(), 1);

    files.write_leaf(&ca.leaf(LeafOptions::new(&ca.id("default", "new"))));
    rotations.wait_for(|n| *n >= 2).await.unwrap();
    // A cert/key pair caught half-written is retried on the next tick.
    assert_eq!(identity.id(), ca.id("default", "new"));
    assert_eq!(identity.current().unwrap().id(), &ca.id("default", "new"));

    // The bundle is re-read too.
    let next = TestCa::new("cluster.local");
    files.write("ca.pem", &format!("{}{}", ca.root_pem(), next.root_pem()));
    let mut attempts = identity.attempts();
    let seen = *attempts.borrow_and_update();
    attempts.wait_for(|n| *n >= seen + 2).await.unwrap();
    assert_eq!(identity.bundle().roots().len(), 2);
}

#[tokio::test]
async fn a_corrupt_rewrite_keeps_the_previous_certificate() {
    let ca = TestCa::new("cluster.local");
    let files = Files::new();
    files.write_leaf(&ca.leaf(LeafOptions::new(&ca.id("default", "web"))));
    files.write("ca.pem", ca.root_pem());
    let identity = Identity::from_files(files.watcher(FAST)).unwrap();
    let before = identity.current().unwrap();

    files.write("cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
    files.write("ca.pem", "");
    let mut attempts = identity.attempts();
    let seen = *attempts.borrow_and_update();
    // Two full reloads after the rewrite.
    attempts.wait_for(|n| *n >= seen + 2).await.unwrap();
    assert_eq!(identity.current().unwrap().leaf(), before.leaf());
    assert_eq!(*identity.rotations().borrow(), 1);
    assert_eq!(identity.bundle().roots(), [ca.root().clone()]);

    // A later good rewrite is picked up.
    files.write_leaf(&ca.leaf(LeafOptions::new(&ca.id("default", "web2"))));
    identity.rotations().wait_for(|n| *n >= 2).await.unwrap();
    assert_eq!(identity.id(), ca.id("default", "web2"));
}

#[tokio::test]
async fn startup_errors_name_the_file() {
    let ca = TestCa::new("cluster.local");
    let files = Files::new();
    let slow = Duration::from_secs(600);

    let err = Identity::from_files(files.watcher(slow)).unwrap_err();
    assert!(matches!(err, IdentityError::Read { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot read {}", files.path("cert.pem").display())),
        "{text}"
    );

    files.write_leaf(&ca.leaf(LeafOptions::new(&ca.id("default", "web"))));
    files.write("ca.pem", "nothing here");
    let text = Identity::from_files(files.watcher(slow))
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with(&format!(
            "{}: invalid trust bundle",
            files.path("ca.pem").display()
        )),
        "{text}"
    );

    files.write("ca.pem", ca.root_pem());
    files.write(
        "key.pem",
        &ca.leaf(LeafOptions::new(&ca.id("default", "x"))).key_pem,
    );
    let text = Identity::from_files(files.watcher(slow))
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with(&format!(
            "{}: the private key is unusable",
            files.path("key.pem").display()
        )),
        "{text}"
    );

    let other = TestCa::new("other.local");
    files.write_leaf(&other.leaf(LeafOptions::new(&other.id("default", "web"))));
    let text = Identity::from_files(files.watcher(slow))
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with(&format!(
            "{}: the workload certificate is for trust domain \"other.local\" but this workload is configured for \"cluster.local\"",
            files.path("cert.pem").display()
        )),
        "{text}"
    );
}

#[test]
fn from_files_needs_a_runtime() {
    let files = Files::new();
    let err = Identity::from_files(files.watcher(FAST)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the certificate file watcher must be started inside a tokio runtime (it refreshes on a background task)"
    );
    assert!(Path::new(files.dir.path()).exists());
}

#[tokio::test]
async fn the_watcher_stops_when_the_identity_is_dropped() {
    let ca = TestCa::new("cluster.local");
    let files = Files::new();
    files.write_leaf(&ca.leaf(LeafOptions::new(&ca.id("default", "web"))));
    files.write("ca.pem", ca.root_pem());
    let runtime = tokio::runtime::Handle::current();
    let (identity, task) = files::start(files.watcher(Duration::from_secs(600)), &runtime).unwrap();
    let clone = identity.clone();
    drop(identity);
    assert!(!task.is_finished());
    drop(clone);
    task.await.unwrap();
}
