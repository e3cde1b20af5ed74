//! The ordinary run's report: per protocol, a table of each variant's
//! figures beside their ratios to the baseline, then the mesh's targets.

use crate::load::quantile;
use crate::{Options, Results, Variant, us};

/// Prints, per protocol, a table of absolute figures with their ratios to
/// the bare baseline, then the targets of the mesh.
pub(crate) fn report(o: &Options, variants: &[Variant], results: &mut [Results]) {
    println!();
    println!(
        "loopback: {} round(s), {:?} per measurement, closed loop with {} in flight, open loop at {:?} rps; {} CPU(s)",
        o.rounds,
        o.duration,
        o.concurrency,
        o.rates,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    for &protocol in &o.protocols {
        let idx: Vec<usize> = (0..variants.len())
            .filter(|&i| variants[i].protocol == protocol)
            .collect();
        // Per variant: throughput, CPU µs per request (closed loop), and
        // per rate (p50, p99, p99.9, CPU µs/request).
        let mut rows = Vec::new();
        for &i in &idx {
            let r = &mut results[i];
            let ok: u64 = r.closed.iter().map(|c| c.ok).sum();
            let errors: u64 = r.closed.iter().map(|c| c.errors).sum();
            let secs: f64 = r.closed.iter().map(|c| c.elapsed.as_secs_f64()).sum();
            let rps = ok as f64 / secs.max(1e-9);
            let cpu_us = us(r.closed_cpu_ns) / (ok + errors).max(1) as f64;
            let mut per_rate = Vec::new();
            let mut open_errors = 0;
            for rate in &o.rates {
                let Some((open, cpu_ns)) = r.open.get_mut(rate) else {
                    continue;
                };
                open.latencies_ns.sort_unstable();
                open.lag_ns.sort_unstable();
                open_errors += open.errors;
                let l = &open.latencies_ns;
                per_rate.push((
                    quantile(l, 0.5),
                    quantile(l, 0.99),
                    quantile(l, 0.999),
                    us(*cpu_ns) / l.len().max(1) as f64,
                    quantile(&open.lag_ns, 0.99),
                ));
            }
            rows.push((
                variants[i].name,
                rps,
                cpu_us,
                per_rate,
                errors + open_errors,
            ));
        }
        let Some(base) = rows.first().cloned() else {
            continue;
        };
        println!();
        println!("### {}", protocol.name());
        println!();
        let mut header = "| variant | throughput rps (ratio) | CPU µs/req (ratio) |".to_owned();
        let mut rule = "|---|---:|---:|".to_owned();
        for rate in &o.rates {
            header += &format!(
                " p50 @{rate} µs | p99 @{rate} µs | p99.9 @{rate} µs | CPU µs/req @{rate} |"
            );
            rule += "---:|---:|---:|---:|";
        }
        println!("{header} errors |");
        println!("{rule}---:|");
        for (name, rps, cpu_us, per_rate, errors) in &rows {
            let mut line = format!(
                "| {name} | {rps:.0} ({:.2}) | {cpu_us:.1} ({:.2}) |",
                rps / base.1,
                cpu_us / base.2
            );
            for (k, (p50, p99, p999, cpu, _)) in per_rate.iter().enumerate() {
                let (b50, b99, b999, bcpu, _) = base.3[k];
                line += &format!(
                    " {:.0} ({:.2}) | {:.0} ({:.2}) | {:.0} ({:.2}) | {cpu:.1} ({:.2}) |",
                    us(*p50),
                    *p50 as f64 / b50.max(1) as f64,
                    us(*p99),
                    *p99 as f64 / b99.max(1) as f64,
                    us(*p999),
                    *p999 as f64 / b999.max(1) as f64,
                    cpu / bcpu.max(1e-9),
                );
            }
            println!("{line} {errors} |");
        }
        let lag: Vec<String> = base
            .3
            .iter()
            .zip(&o.rates)
            .map(|(r, rate)| format!("{:.0} µs @{rate}", us(r.4)))
            .collect();
        println!();
        println!("generator send lag p99 (bare): {}", lag.join(", "));
        targets(&rows, &o.rates);
        tls_target(&rows, &o.rates);
    }
}

type Row = (&'static str, f64, f64, Vec<(u64, u64, u64, f64, u64)>, u64);

/// The mesh's targets against this protocol's figures.
///
/// A latency target is judged only where this run can resolve it: every
/// latency is measured from the intended send time, so the load
/// generator's own send lag is in both figures compared. Where that lag's
/// p99 (the larger of the two variants') exceeds the margin at stake, the
/// verdict is "not measurable" rather than a "met" that noise produced.
fn targets(rows: &[Row], rates: &[u32]) {
    let find = |name: &str| rows.iter().find(|r| r.0 == name);
    let (Some(bare), Some(mesh)) = (find("bare"), find("mesh")) else {
        return;
    };
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    let ratio = mesh.1 / bare.1;
    println!(
        "- target throughput mesh/bare >= 0.90: {ratio:.2} ({})",
        verdict(ratio >= 0.90)
    );
    if let Some(k) = rates.iter().position(|&r| r == 1_000) {
        let floor = lag_floor(bare, mesh, k);
        let p50 = us(mesh.3[k].0) - us(bare.3[k].0);
        let p99 = us(mesh.3[k].1) - us(bare.3[k].1);
        println!(
            "- target added p50 @1000 <= 10 µs: {p50:+.1} µs ({})",
            verdict(p50 <= 10.0)
        );
        println!(
            "- target added p99 @1000 <= 25 µs: {p99:+.1} µs ({})",
            judged(p99 <= 25.0, 25.0, floor)
        );
    }
    if let Some(two) = find("haproxy-2hop") {
        let x = mesh.1 / two.1;
        println!(
            "- target throughput mesh/haproxy-2hop >= 2: {x:.2} ({})",
            verdict(x >= 2.0)
        );
        for (k, rate) in rates.iter().enumerate() {
            let (m, h) = (us(mesh.3[k].1), us(two.3[k].1));
            println!(
                "- target p99 @{rate} mesh < haproxy-2hop: {m:.0} vs {h:.0} µs ({})",
                judged(m < h, (h - m).abs(), lag_floor(two, mesh, k))
            );
        }
    }
}

/// The larger p99 of the generator's own send lag in two variants' runs
/// at the `k`th rate, in µs: differences of latency smaller than this are
/// the generator's, not the variants'.
fn lag_floor(a: &Row, b: &Row, k: usize) -> f64 {
    us(a.3[k].4.max(b.3[k].4))
}

/// "met" or "MISSED" where `margin` (µs) exceeds the generator's `floor`,
/// else why the run cannot tell.
fn judged(ok: bool, margin: f64, floor: f64) -> String {
    if floor > margin {
        format!("not measurable: the generator's send lag p99 is {floor:.0} µs")
    } else if ok {
        "met".to_owned()
    } else {
        "MISSED".to_owned()
    }
}

/// Mutual TLS through the mesh against tonic's own rustls TLS: the
/// target is within 5% (throughput and CPU per request); the latencies
/// are printed beside.
fn tls_target(rows: &[Row], rates: &[u32]) {
    let find = |name: &str| rows.iter().find(|r| r.0 == name);
    let (Some(tls), Some(mtls)) = (find("tls"), find("mesh-mtls")) else {
        return;
    };
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let rps = mtls.1 / tls.1;
    let cpu = mtls.2 / tls.2;
    println!(
        "- target mesh-mtls/tls within 5%: throughput {rps:.2} ({}), CPU µs/req {cpu:.2} ({})",
        verdict(rps >= 0.95),
        verdict(cpu <= 1.05)
    );
    for (k, rate) in rates.iter().enumerate() {
        let (m, t) = (&mtls.3[k], &tls.3[k]);
        println!(
            "  mesh-mtls vs tls @{rate}: p50 {:.0} vs {:.0} µs ({:.2}), p99 {:.0} vs {:.0} µs ({:.2})",
            us(m.0),
            us(t.0),
            m.0 as f64 / t.0.max(1) as f64,
            us(m.1),
            us(t.1),
            m.1 as f64 / t.1.max(1) as f64,
        );
    }
    if let (Some(bare), Some(mesh)) = (find("bare"), find("mesh")) {
        println!(
            "  what TLS costs: throughput tls/bare {:.2}, mesh-mtls/mesh {:.2}; CPU µs/req {:+.1} bare, {:+.1} mesh",
            tls.1 / bare.1,
            mtls.1 / mesh.1,
            tls.2 - bare.2,
            mtls.2 - mesh.2,
        );
    }
}
