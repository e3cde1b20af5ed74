//! The configuration source: a directory of Istio-dialect YAML, read as
//! [`mesh_core::config::load_path`] does and read again whenever a YAML
//! file in it changes (after a short quiet period, so an editor's several
//! writes make one reload), parsing again only the files whose text
//! changed ([`SourceCache`]). A configuration that does not validate is
//! rejected as a whole: the previous one stays in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mesh_core::config::{LoadOptions, SourceCache};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::error::ControlError;
use crate::store::Store;

/// Watches a directory and feeds every reload to the store.
#[derive(Debug)]
pub(crate) struct DirSource {
    dir: PathBuf,
    debounce: Duration,
    // Kept alive for as long as the source runs.
    _watcher: RecommendedWatcher,
    events: mpsc::Receiver<()>,
    /// Each file as last parsed; loads run one at a time, on the blocking
    /// pool.
    cache: Arc<Mutex<SourceCache>>,
}

impl DirSource {
    /// Starts watching `dir` (it must exist).
    pub(crate) fn watch(dir: &Path, debounce: Duration) -> Result<Self, ControlError> {
        if !dir.is_dir() {
            return Err(ControlError::ConfigDir {
                dir: dir.to_owned(),
            });
        }
        let (tx, events) = mpsc::channel(1);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            match event {
                Ok(event) if !is_relevant(&event) => {}
                // An error may mean lost events: reload to be sure.
                Ok(_) | Err(_) => {
                    // Full means a reload is already pending.
                    let _ = tx.try_send(());
                }
            }
        })
        .map_err(|source| ControlError::Watch {
            dir: dir.to_owned(),
            source,
        })?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|source| ControlError::Watch {
                dir: dir.to_owned(),
                source,
            })?;
        Ok(Self {
            dir: dir.to_owned(),
            debounce,
            _watcher: watcher,
            events,
            cache: Arc::new(Mutex::new(SourceCache::new(LoadOptions::default()))),
        })
    }

    /// Reads the directory once, now.
    pub(crate) async fn load(&self, store: &Store) {
        let dir = self.dir.clone();
        let cache = self.cache.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .load_path(&dir)
        })
        .await;
        match loaded {
            Ok(result) => {
                if result.is_ok() {
                    tracing::info!(dir = %self.dir.display(), "configuration loaded");
                }
                store.apply_config(result);
            }
            Err(e) => tracing::error!("reading the configuration failed: {e}"),
        }
    }

    /// Reloads on every change until `shutdown` turns true.
    pub(crate) async fn run(mut self, store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                event = self.events.recv() => {
                    if event.is_none() {
                        return;
                    }
                }
            }
            // Quiet period: wait until no event came for `debounce`.
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(self.debounce) => break,
                    _ = self.events.recv() => {}
                }
            }
            self.load(&store).await;
        }
    }
}

/// Whether an event may have changed the configuration: a change to a
/// YAML file (or to the directory itself), not a read.
fn is_relevant(event: &Event) -> bool {
    let kind = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    kind && (event.paths.is_empty() || event.paths.iter().any(|p| is_yaml(p)))
}

fn is_yaml(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn reads_and_other_files_are_not_changes() {
        assert!(is_relevant(&event(
            EventKind::Modify(ModifyKind::Any),
            "/c/mesh.yaml"
        )));
        assert!(is_relevant(&event(
            EventKind::Create(CreateKind::File),
            "/c/b.yml"
        )));
        assert!(!is_relevant(&event(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            "/c/mesh.yaml"
        )));
        assert!(!is_relevant(&event(
            EventKind::Modify(ModifyKind::Any),
            "/c/.mesh.yaml.swp"
        )));
        assert!(!is_relevant(&event(
            EventKind::Modify(ModifyKind::Any),
            "/c/notes.txt"
        )));
    }
}
