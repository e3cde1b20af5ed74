//! CPU time of processes, from `/proc` (Linux): the sum over a process's
//! threads of the time they spent on a CPU, in nanoseconds.

use std::fs;

/// Nanoseconds of CPU `pid` (or this process, for `None`) has used so far;
/// 0 where `/proc` cannot tell.
pub(crate) fn process_ns(pid: Option<u32>) -> u64 {
    let base = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_owned(),
    };
    let from_schedstat = fs::read_dir(format!("{base}/task")).ok().map(|tasks| {
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum::<u64>()
    });
    match from_schedstat {
        Some(ns) if ns > 0 => ns,
        // No schedstat: user + system time in clock ticks (100 Hz).
        _ => fs::read_to_string(format!("{base}/stat"))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1;
                let fields: Vec<&str> = after.split_whitespace().collect();
                let utime: u64 = fields.get(11)?.parse().ok()?;
                let stime: u64 = fields.get(12)?.parse().ok()?;
                Some((utime + stime) * 10_000_000)
            })
            .unwrap_or(0),
    }
}

/// CPU of this process plus the processes `pids`.
pub(crate) fn total_ns(pids: &[u32]) -> u64 {
    process_ns(None) + pids.iter().map(|p| process_ns(Some(*p))).sum::<u64>()
}
