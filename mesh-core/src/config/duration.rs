//! Durations in Istio's notation: `1.5s`, `200ms`, `1m30s`.

use std::time::Duration;

/// Parses `1.5s`, `200ms`, `1m30s`, `0`: one or more `<number><unit>`
/// pairs, units `h`, `m`, `s`, `ms`, `us` (or `µs`), `ns`.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    const NANOS_PER: [(&str, u128); 7] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("µs", 1_000),
        ("ns", 1),
    ];
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => a.split_at(a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len())),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per = NANOS_PER.iter().find(|(u, _)| *u == unit)?.1;
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut part = whole.checked_mul(per)?;
        // Fractional digits beyond nanoseconds are dropped.
        let frac = &frac[..frac.len().min(18)];
        if !frac.is_empty() {
            let digits: u128 = frac.parse().ok()?;
            part = part.checked_add(
                digits.checked_mul(per)? / 10u128.pow(u32::try_from(frac.len()).ok()?),
            )?;
        }
        total = total.checked_add(part)?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    let nanos = u32::try_from(total % 1_000_000_000).ok()?;
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_notation() {
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in [
            "",
            "5",
            "5 parsecs",
            "s",
            "1.5",
            "-1s",
            "1.2.3s",
            "5sec",
            "1e3s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("99999999999999999999999h"), None, "overflow");
    }
}
