//! `--paired`: each variant's latency against `bare`'s in the same
//! open-loop runs, their requests interleaved (bare, variant, bare, ...),
//! so that a stall of the machine or of the generator falls on both alike.
//!
//! Separate runs of two variants cannot resolve a difference of tens of
//! microseconds in their tails on a shared machine: each run meets its own
//! stalls, and the p99 of either moves by hundreds of microseconds from run
//! to run. Interleaved, both see the same ones, and what is left of their
//! difference is the variant's. Each variant still sends at the given rate
//! (the two together at twice it). The added p50 and p99 of each round are
//! printed beside the pooled figures; the targets are judged on their mean,
//! with two standard errors of it as how far the run can be trusted.

use std::collections::HashMap;

use crate::load::{Open, open_loop, quantile};
use crate::{Options, Variant, us};

/// The added p99 target at 1000 requests/s, µs.
const P99_TARGET_US: f64 = 25.0;
/// The added p50 target at 1000 requests/s, µs.
const P50_TARGET_US: f64 = 10.0;

/// Both sides of one variant's pairing at one rate, pooled over rounds, and
/// the added p50 and p99 (µs) of each round.
#[derive(Default)]
struct Pairing {
    bare: Open,
    variant: Open,
    rounds: Vec<(f64, f64)>,
}

/// Runs every non-bare variant interleaved with its protocol's `bare` at
/// each rate, `o.rounds` times, and prints the figures and the targets.
pub(crate) fn run(
    o: &Options,
    handle: &tokio::runtime::Handle,
    variants: &[Variant],
) -> anyhow::Result<()> {
    let mut pairings: HashMap<(usize, u32), Pairing> = HashMap::new();
    for round in 1..=o.rounds {
        eprintln!("round {round}/{} (paired)", o.rounds);
        for (i, v) in variants.iter().enumerate() {
            let Some(bare) = variants
                .iter()
                .find(|b| b.protocol == v.protocol && b.name == "bare")
            else {
                anyhow::bail!("--paired needs bare, and --alone leaves it out");
            };
            if v.name == "bare" {
                continue;
            }
            for &rate in &o.rates {
                let mut both = open_loop(handle, &[&bare.call, &v.call], rate, o.duration);
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
                pairing.bare.latencies_ns.extend(base.latencies_ns);
                pairing.bare.lag_ns.extend(base.lag_ns);
                pairing.bare.errors += base.errors;
                pairing.variant.latencies_ns.extend(variant.latencies_ns);
                pairing.variant.lag_ns.extend(variant.lag_ns);
                pairing.variant.errors += variant.errors;
            }
        }
    }
    report(o, variants, &mut pairings);
    Ok(())
}

fn report(o: &Options, variants: &[Variant], pairings: &mut HashMap<(usize, u32), Pairing>) {
    println!();
    println!(
        "loopback --paired: {} round(s), {:?} per measurement, each variant interleaved with bare, each at {:?} rps",
        o.rounds, o.duration, o.rates,
    );
    for &protocol in &o.protocols {
        println!();
        println!("### {} (paired with bare)", protocol.name());
        println!();
        println!(
            "| variant | rps | p50 bare / variant µs (added) | p99 bare / variant µs (added) | p99.9 bare / variant µs (added) | added p50, p99 per round µs | send lag p99 µs | errors |"
        );
        println!("|---|---:|---:|---:|---:|---|---:|---:|");
        let mut targets = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            if v.protocol != protocol || v.name == "bare" {
                continue;
            }
            for &rate in &o.rates {
                let Some(p) = pairings.get_mut(&(i, rate)) else {
                    continue;
                };
                for open in [&mut p.bare, &mut p.variant] {
                    open.latencies_ns.sort_unstable();
                    open.lag_ns.sort_unstable();
                }
                let q = |q| {
                    let (b, v) = (
                        us(quantile(&p.bare.latencies_ns, q)),
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
                let lag = us(quantile(&p.bare.lag_ns, 0.99).max(quantile(&p.variant.lag_ns, 0.99)));
                println!(
                    "| {} | {rate} | {} | {} | {} | {} | {lag:.0} | {} |",
                    v.name,
                    cell(q(0.5)),
                    cell(q(0.99)),
                    cell(q(0.999)),
                    rounds.join("; "),
                    p.bare.errors + p.variant.errors,
                );
                if v.name == "mesh" && rate == 1_000 {
                    let p50: Vec<f64> = p.rounds.iter().map(|r| r.0).collect();
                    let p99: Vec<f64> = p.rounds.iter().map(|r| r.1).collect();
                    targets.push(("p50", P50_TARGET_US, p50));
                    targets.push(("p99", P99_TARGET_US, p99));
                }
            }
        }
        if !targets.is_empty() {
            println!();
        }
        for (what, target, rounds) in targets {
            let (added, error) = mean_and_error(&rounds);
            println!(
                "- target added {what} @1000 <= {target:.0} µs (paired): {added:+.1} µs ±{error:.0} (mean of {} rounds ± 2 standard errors) ({})",
                rounds.len(),
                verdict(added, target, error, rounds.len())
            );
        }
    }
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

/// "met" or "MISSED" where three rounds or more put the figure clear of
/// its target (by more than `error`, two standard errors); else "not
/// resolved": too few rounds, or the target is within their error.
fn verdict(added: f64, target: f64, error: f64, rounds: usize) -> &'static str {
    if rounds < 3 {
        "not resolved: fewer than 3 rounds"
    } else if error > (target - added).abs() {
        "not resolved: the target is within the rounds' error; run more rounds"
    } else if added <= target {
        "met"
    } else {
        "MISSED"
    }
}
