//! `--paired`: each variant against its baseline (`bare`; `tls` for the
//! mesh's mutual TLS) in the same runs: open loops with their requests
//! interleaved (baseline, variant, baseline, ...), so that a
//! stall of the machine or of the generator falls on both alike, and
//! closed loops in short alternating bursts, whose ratio of throughput
//! (and of CPU per request) is not also the machine's drift between two
//! longer runs.
//!
//! Separate runs of two variants cannot resolve a difference of tens of
//! microseconds in their tails on a shared machine: each run meets its own
//! stalls, and the p99 of either moves by hundreds of microseconds from run
//! to run. Interleaved, both see the same ones, and what is left of their
//! difference is the variant's. Each variant still sends at the given rate
//! (the two together at twice it). The added p50 and p99 of each round are
//! printed beside the pooled figures. The median target is judged on their
//! mean, with two standard errors of it as how far the run can be trusted.
//! The p99 target is judged on the pooled p99s (every round's requests of
//! each side together), with a 95 % interval from resampling whole rounds:
//! a round's own p99 is its 20 or 30 slowest requests, which a stall of
//! the machine decides, so the per-round figures scatter by hundreds of
//! microseconds; pooled, the p99 is hundreds of requests, and resampling
//! rounds (not requests) keeps a round's stalls together, so the interval
//! is as wide as the rounds' differences make it.

use std::collections::HashMap;

use crate::cpu;
use crate::load::{Open, closed_loop, nearest_rank, open_loop, quantile};
use crate::{Options, Variant, us};

/// The added p99 target at 1000 requests/s, µs.
const P99_TARGET_US: f64 = 25.0;
/// The added p50 target at 1000 requests/s, µs.
const P50_TARGET_US: f64 = 10.0;
/// The throughput targets: `mesh` at least this share of `bare`'s...
const THROUGHPUT_TARGET: f64 = 0.90;
/// ...and mutual TLS through the mesh within 5 % of tonic's own TLS.
const MTLS_THROUGHPUT_TARGET: f64 = 0.95;

/// What `variant` is compared with: the TLS variants with tonic's own
/// TLS (`tls`), everything else with `bare`.
pub(crate) fn baseline_of(variant: &str) -> &'static str {
    if variant.ends_with("-mtls") {
        "tls"
    } else {
        "bare"
    }
}

/// Both sides of one variant's pairing at one rate, pooled over rounds, and
/// the added p50 and p99 (µs) of each round.
#[derive(Default)]
struct Pairing {
    base: Open,
    variant: Open,
    rounds: Vec<(f64, f64)>,
    /// Each round's latencies, baseline then variant, sorted.
    round_latencies: Vec<[Vec<u64>; 2]>,
}

/// Resamples of the rounds for the pooled p99's interval.
const RESAMPLES: usize = 2000;

/// Runs every non-bare variant side by side with its baseline at
/// each rate, `o.rounds` times, and prints the figures and the targets.
pub(crate) fn run(
    o: &Options,
    handle: &tokio::runtime::Handle,
    variants: &[Variant],
) -> anyhow::Result<()> {
    let mut pairings: HashMap<(usize, u32), Pairing> = HashMap::new();
    // Per variant, per round: its closed-loop throughput and CPU per
    // request over its baseline's.
    let mut throughput: HashMap<usize, Vec<(f64, f64)>> = HashMap::new();
    for round in 1..=o.rounds {
        eprintln!("round {round}/{} (paired)", o.rounds);
        for (i, v) in variants.iter().enumerate() {
            if v.name == "bare" {
                continue;
            }
            let against = baseline_of(v.name);
            let Some(baseline) = variants
                .iter()
                .find(|b| b.protocol == v.protocol && b.name == against)
            else {
                anyhow::bail!(
                    "--paired compares {} with {against}: add it to --only",
                    v.name
                );
            };
            throughput
                .entry(i)
                .or_default()
                .push(alternated_closed_loops(o, handle, baseline, v));
            for &rate in &o.rates {
                let mut both = open_loop(handle, &[&baseline.call, &v.call], rate, o.duration);
                let (Some(mut variant), Some(mut base)) = (both.pop(), both.pop()) else {
                    anyhow::bail!("two calls, two results");
                };
                for open in [&mut base, &mut variant] {
                    open.latencies_ns.sort_unstable();
                }
                let added = |q| {
                    us(quantile(&variant.latencies_ns, q)) - us(quantile(&base.latencies_ns, q))
                };
                let pairing = pairings.entry((i, rate)).or_default();
                pairing.rounds.push((added(0.5), added(0.99)));
                pairing
                    .round_latencies
                    .push([base.latencies_ns.clone(), variant.latencies_ns.clone()]);
                pairing.base.latencies_ns.extend(base.latencies_ns);
                pairing.base.lag_ns.extend(base.lag_ns);
                pairing.base.errors += base.errors;
                pairing.variant.latencies_ns.extend(variant.latencies_ns);
                pairing.variant.lag_ns.extend(variant.lag_ns);
                pairing.variant.errors += variant.errors;
            }
        }
    }
    report(o, variants, &mut pairings, &throughput);
    Ok(())
}

/// The closed-loop throughput and CPU per request of `variant` over
/// `baseline`'s, from short bursts of each in turn (A B A B..., a quarter
/// of `o.duration` each).
///
/// Each burst has the machine to itself, as in the ordinary run, while the
/// turns are short enough that the machine's drift over seconds falls on
/// both. (Running the two side by side would not do: each request would
/// wait behind the other variant's, and the ratio would come out nearer
/// 1 than their costs are.)
fn alternated_closed_loops(
    o: &Options,
    handle: &tokio::runtime::Handle,
    baseline: &Variant,
    variant: &Variant,
) -> (f64, f64) {
    const BURSTS: u32 = 4;
    // Per side: requests answered, seconds, CPU nanoseconds.
    let mut sides = [(0u64, 0f64, 0u64); 2];
    for _ in 0..BURSTS {
        for (side, v) in sides.iter_mut().zip([baseline, variant]) {
            let before = cpu::total_ns(&v.pids);
            let run = closed_loop(handle, &v.call, o.concurrency, o.duration / BURSTS);
            side.0 += run.ok;
            side.1 += run.elapsed.as_secs_f64();
            side.2 += cpu::total_ns(&v.pids) - before;
        }
    }
    let [(base_ok, base_secs, base_cpu), (ok, secs, cpu)] = sides;
    let rate = |ok: u64, secs: f64| ok as f64 / secs.max(1e-9);
    let per_request = |cpu: u64, ok: u64| cpu as f64 / ok.max(1) as f64;
    (
        rate(ok, secs) / rate(base_ok, base_secs).max(1e-9),
        per_request(cpu, ok) / per_request(base_cpu, base_ok).max(1e-9),
    )
}

fn report(
    o: &Options,
    variants: &[Variant],
    pairings: &mut HashMap<(usize, u32), Pairing>,
    throughput: &HashMap<usize, Vec<(f64, f64)>>,
) {
    println!();
    println!(
        "loopback --paired: {} round(s), {:?} per measurement, each variant side by side with its baseline (bare, or tls for the mesh's mTLS), open loops at {:?} rps each",
        o.rounds, o.duration, o.rates,
    );
    for &protocol in &o.protocols {
        println!();
        println!("### {} (paired)", protocol.name());
        println!();
        println!(
            "| variant | against | rps | p50 µs: baseline / variant (added) | p99 µs | p99.9 µs | added p50, p99 per round µs | send lag p99 µs | errors |"
        );
        println!("|---|---|---:|---:|---:|---:|---|---:|---:|");
        let mut targets = Vec::new();
        let mut pooled_p99 = None;
        for (i, v) in variants.iter().enumerate() {
            if v.protocol != protocol || v.name == "bare" {
                continue;
            }
            for &rate in &o.rates {
                let Some(p) = pairings.get_mut(&(i, rate)) else {
                    continue;
                };
                for open in [&mut p.base, &mut p.variant] {
                    open.latencies_ns.sort_unstable();
                    open.lag_ns.sort_unstable();
                }
                let q = |q| {
                    let (b, v) = (
                        us(quantile(&p.base.latencies_ns, q)),
                        us(quantile(&p.variant.latencies_ns, q)),
                    );
                    (b, v, v - b)
                };
                let cell = |(b, v, d): (f64, f64, f64)| format!("{b:.0} / {v:.0} ({d:+.0})");
                let rounds: Vec<String> = p
                    .rounds
                    .iter()
                    .map(|(p50, p99)| format!("{p50:+.0}, {p99:+.0}"))
                    .collect();
                let lag = us(quantile(&p.base.lag_ns, 0.99).max(quantile(&p.variant.lag_ns, 0.99)));
                println!(
                    "| {} | {} | {rate} | {} | {} | {} | {} | {lag:.0} | {} |",
                    v.name,
                    baseline_of(v.name),
                    cell(q(0.5)),
                    cell(q(0.99)),
                    cell(q(0.999)),
                    rounds.join("; "),
                    p.base.errors + p.variant.errors,
                );
                if v.name == "mesh" && rate == 1_000 {
                    let p50: Vec<f64> = p.rounds.iter().map(|r| r.0).collect();
                    let p99: Vec<f64> = p.rounds.iter().map(|r| r.1).collect();
                    targets.push(("p50", P50_TARGET_US, p50));
                    pooled_p99 = Some((
                        p99,
                        pooled_added(&p.round_latencies, 0.99, RESAMPLES, u64::from(rate)),
                    ));
                }
            }
        }
        println!();
        for (i, v) in variants.iter().enumerate() {
            let Some(rounds) = throughput.get(&i).filter(|_| v.protocol == protocol) else {
                continue;
            };
            let ratios: Vec<f64> = rounds.iter().map(|r| r.0).collect();
            let cpu: Vec<f64> = rounds.iter().map(|r| r.1).collect();
            let (ratio, error) = mean_and_error(&ratios);
            let (cpu, cpu_error) = mean_and_error(&cpu);
            let target = match v.name {
                "mesh" => Some(THROUGHPUT_TARGET),
                "mesh-mtls" => Some(MTLS_THROUGHPUT_TARGET),
                _ => None,
            };
            let judged = target.map_or(String::new(), |target| {
                format!(
                    " (target >= {target:.2}: {})",
                    verdict(ratio >= target, ratio - target, error, ratios.len())
                )
            });
            println!(
                "- throughput {}/{} (closed loops in alternating bursts): {ratio:.3} ±{error:.3}, CPU per request {cpu:.3} ±{cpu_error:.3} (means of {} rounds ± 2 standard errors){judged}",
                v.name,
                baseline_of(v.name),
                ratios.len(),
            );
        }
        for (what, target, rounds) in targets {
            let (added, error) = mean_and_error(&rounds);
            println!(
                "- target added {what} @1000 <= {target:.0} µs (paired): {added:+.1} µs ±{error:.0} (mean of {} rounds ± 2 standard errors) ({})",
                rounds.len(),
                verdict(added <= target, target - added, error, rounds.len())
            );
        }
        if let Some((per_round, (added, low, high))) = pooled_p99 {
            let (mean, error) = mean_and_error(&per_round);
            let judged = if per_round.len() < 3 {
                "not resolved: fewer than 3 rounds"
            } else if high <= P99_TARGET_US {
                "met"
            } else if low > P99_TARGET_US {
                "MISSED"
            } else {
                "not resolved: the target is within the interval; run more rounds"
            };
            let interval = if per_round.len() < 2 {
                "no interval from one round".to_owned()
            } else {
                format!(
                    "95 % interval {low:+.1} to {high:+.1} (the rounds resampled {RESAMPLES} times)"
                )
            };
            println!(
                "- target added p99 @1000 <= {P99_TARGET_US:.0} µs (paired, pooled): {added:+.1} µs, {interval}; the mean of the rounds' own added p99s was {mean:+.1} ±{error:.0} ({judged})",
            );
        }
    }
}

/// The `q` quantile of the variant's latencies minus the baseline's, each
/// side's rounds pooled (µs), and the 2.5th and 97.5th percentiles of the
/// same difference over `resamples` draws of as many rounds with
/// replacement (a percentile bootstrap by round). `seed` makes a run's
/// interval repeatable.
fn pooled_added(rounds: &[[Vec<u64>; 2]], q: f64, resamples: usize, seed: u64) -> (f64, f64, f64) {
    let pooled = |picks: &mut dyn Iterator<Item = usize>, scratch: &mut [Vec<u64>; 2]| {
        for side in scratch.iter_mut() {
            side.clear();
        }
        for i in picks {
            for (side, latencies) in scratch.iter_mut().zip(&rounds[i]) {
                side.extend_from_slice(latencies);
            }
        }
        let [base, variant] = scratch;
        us(select_quantile(variant, q)) - us(select_quantile(base, q))
    };
    let mut scratch = [Vec::new(), Vec::new()];
    let estimate = pooled(&mut (0..rounds.len()), &mut scratch);
    if rounds.len() < 2 {
        return (estimate, f64::NEG_INFINITY, f64::INFINITY);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut draws: Vec<f64> = (0..resamples)
        .map(|_| {
            let mut picks = (0..rounds.len()).map(|_| rng.usize(..rounds.len()));
            pooled(&mut picks, &mut scratch)
        })
        .collect();
    draws.sort_unstable_by(f64::total_cmp);
    let at = |p: f64| draws[((p * draws.len() as f64) as usize).min(draws.len() - 1)];
    (estimate, at(0.025), at(0.975))
}

/// The `q` quantile (nearest rank, as [`quantile`]) of unsorted `values`,
/// which it reorders.
fn select_quantile(values: &mut [u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    *values
        .select_nth_unstable(nearest_rank(values.len(), q) - 1)
        .1
}

/// The mean of `values` (one per round) and twice its standard error:
/// about how far that mean may be from the truth (a 95 % interval).
///
/// The targets are judged on the mean of the rounds' differences, not on
/// the difference of the pooled quantiles: each round is a paired
/// comparison, while the pooled p99 of either side is decided by the one or
/// two rounds with the longest stalls.
fn mean_and_error(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return (mean, f64::INFINITY);
    }
    let variance = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, 2.0 * (variance / n).sqrt())
}

/// "met" (`ok`) or "MISSED" where three rounds or more put the figure
/// clear of its target (`margin` away, more than `error`, two standard
/// errors); else "not resolved": too few rounds, or the target is within
/// their error.
fn verdict(ok: bool, margin: f64, error: f64, rounds: usize) -> &'static str {
    if rounds < 3 {
        "not resolved: fewer than 3 rounds"
    } else if error > margin.abs() {
        "not resolved: the target is within the rounds' error; run more rounds"
    } else if ok {
        "met"
    } else {
        "MISSED"
    }
}
