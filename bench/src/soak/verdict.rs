//! Whether a sampled metric stayed bounded during the soak, and the figures that show it.
//!
//! A metric is **bounded** when, over the load phase split into thirds by time,
//! 1. the last third's mean is at most `THIRDS_TOLERANCE` (10 %) above the middle third's mean
//!    plus the metric's absolute slack, and
//! 2. the least-squares line through the last two thirds rises by at most `CLIMB_PER_10_MINUTES`
//!    (1 % of their mean per 10 minutes) over that window, plus the same slack.
//!
//! The first third is left out of both tests: caches, pools and allocator arenas fill there. The
//! slack is there for small, noisy figures (a file descriptor more or less, a queue that breathes
//! with the arrivals), where a percentage of a small mean would flag noise.

/// How far the last third's mean may sit above the middle third's.
pub(crate) const THIRDS_TOLERANCE: f64 = 0.10;
/// How steeply the last two thirds may climb, as a share of their mean per 10 minutes.
pub(crate) const CLIMB_PER_10_MINUTES: f64 = 0.01;

/// The figures of one metric over the load phase.
#[derive(Debug, Clone)]
pub(crate) struct Judgement {
    /// Mean of the first `window` seconds and of the last `window` seconds.
    pub first: f64,
    pub last: f64,
    pub max: f64,
    pub middle_third: f64,
    pub last_third: f64,
    /// Slope of the least-squares line through the last two thirds, in units per 10 minutes.
    pub climb_per_10_minutes: f64,
    pub bounded: bool,
    /// Why not, when not bounded.
    pub reason: String,
}

/// Judges `values` sampled at `times` (seconds from the start of the load). `window` is the span
/// of the first/last averages (5 minutes, or a third of a shorter run); `slack` is in the
/// metric's own unit.
pub(crate) fn judge(times: &[f64], values: &[f64], window: f64, slack: f64) -> Judgement {
    assert_eq!(times.len(), values.len(), "one time per value");
    // A window without a figure (no POST in it, say) is left out.
    let (times, values): (Vec<f64>, Vec<f64>) = times.iter().zip(values).filter(|(_, v)| v.is_finite()).unzip();
    let (times, values) = (&times[..], &values[..]);
    if values.is_empty() {
        return Judgement {
            first: f64::NAN,
            last: f64::NAN,
            max: f64::NAN,
            middle_third: f64::NAN,
            last_third: f64::NAN,
            climb_per_10_minutes: f64::NAN,
            bounded: false,
            reason: "no samples".to_owned(),
        };
    }
    let (start, end) = (times[0], times[times.len() - 1]);
    let third = (end - start) / 3.0;
    let window = window.min(third.max(f64::MIN_POSITIVE));
    let within = |from: f64, to: f64| -> Vec<(f64, f64)> {
        times.iter().zip(values).filter(|(t, _)| **t >= from && **t <= to).map(|(t, v)| (*t, *v)).collect()
    };
    let first = mean(&within(start, start + window));
    let last = mean(&within(end - window, end));
    let middle = within(start + third, start + 2.0 * third);
    let last_part = within(start + 2.0 * third, end);
    let (middle_third, last_third) = (mean(&middle), mean(&last_part));
    let tail = within(start + third, end);
    let tail_mean = mean(&tail);
    let slope = slope(&tail);
    let climb_per_10_minutes = slope * 600.0;
    let tail_span = tail.last().map_or(0.0, |l| l.0) - tail.first().map_or(0.0, |f| f.0);

    let mut reasons = Vec::new();
    let thirds_limit = middle_third * (1.0 + THIRDS_TOLERANCE) + slack;
    if last_third > thirds_limit {
        reasons.push(format!(
            "last third {last_third:.1} > middle third {middle_third:.1} + {:.0} % + {slack}",
            THIRDS_TOLERANCE * 100.0
        ));
    }
    let rise = slope * tail_span;
    let rise_limit = CLIMB_PER_10_MINUTES * tail_mean.abs() * tail_span / 600.0 + slack;
    if rise > rise_limit {
        reasons.push(format!("climbs {rise:.1} over the last two thirds (limit {rise_limit:.1})"));
    }
    Judgement {
        first,
        last,
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        middle_third,
        last_third,
        climb_per_10_minutes,
        bounded: reasons.is_empty(),
        reason: reasons.join("; "),
    }
}

fn mean(points: &[(f64, f64)]) -> f64 {
    if points.is_empty() {
        return f64::NAN;
    }
    points.iter().map(|(_, v)| v).sum::<f64>() / points.len() as f64
}

/// Least-squares slope of `points` (value per second); 0 for fewer than two distinct times.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_t = points.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_v = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (t, v) in points {
        covariance += (t - mean_t) * (v - mean_v);
        variance += (t - mean_t) * (t - mean_t);
    }
    if variance == 0.0 { 0.0 } else { covariance / variance }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples every 10 s for 30 minutes.
    fn times() -> Vec<f64> {
        (0..=180).map(|i| i as f64 * 10.0).collect()
    }

    /// A deterministic wobble of ± `amplitude`.
    fn noise(i: usize, amplitude: f64) -> f64 {
        ((i * 7919) % 13) as f64 / 6.0 * amplitude - amplitude
    }

    #[test]
    fn a_flat_noisy_series_is_bounded() {
        let values: Vec<f64> = (0..=180).map(|i| 100.0 + noise(i, 3.0)).collect();
        let judgement = judge(&times(), &values, 300.0, 1.0);
        assert!(judgement.bounded, "{judgement:?}");
    }

    #[test]
    fn a_warm_up_then_a_plateau_is_bounded() {
        // Climbs for the first five minutes, then stays.
        let values: Vec<f64> = (0..=180).map(|i| 50.0 + (i.min(30) as f64) * 2.0 + noise(i, 0.5)).collect();
        let judgement = judge(&times(), &values, 300.0, 1.0);
        assert!(judgement.bounded, "{judgement:?}");
        assert!(judgement.last > judgement.first + 20.0);
    }

    #[test]
    fn a_steady_climb_grows() {
        // 0.5 % of the mean per minute: a leak.
        let values: Vec<f64> = (0..=180).map(|i| 100.0 + i as f64 * 0.1 + noise(i, 1.0)).collect();
        let judgement = judge(&times(), &values, 300.0, 1.0);
        assert!(!judgement.bounded, "{judgement:?}");
        assert!(judgement.reason.contains("climbs"), "{}", judgement.reason);
        assert!((judgement.climb_per_10_minutes - 6.0).abs() < 0.5, "{judgement:?}");
    }

    #[test]
    fn a_slow_climb_within_the_slack_is_bounded_and_one_past_it_is_not() {
        let slow: Vec<f64> = (0..=180).map(|i| 10.0 + i as f64 * 0.005).collect();
        assert!(judge(&times(), &slow, 300.0, 2.0).bounded);
        let steep: Vec<f64> = (0..=180).map(|i| 10.0 + i as f64 * 0.05).collect();
        assert!(!judge(&times(), &steep, 300.0, 2.0).bounded);
    }

    #[test]
    fn a_jump_in_the_last_third_grows() {
        let values: Vec<f64> = (0..=180).map(|i| if i > 150 { 200.0 } else { 100.0 }).collect();
        let judgement = judge(&times(), &values, 300.0, 1.0);
        assert!(!judgement.bounded);
        assert!(judgement.reason.contains("last third"), "{}", judgement.reason);
    }

    #[test]
    fn a_sawtooth_is_bounded() {
        // The queue filling and emptying with the arrivals.
        let values: Vec<f64> = (0..=180).map(|i| (i % 6) as f64 * 10.0).collect();
        assert!(judge(&times(), &values, 300.0, 10.0).bounded);
    }

    #[test]
    fn no_samples_is_not_bounded() {
        assert!(!judge(&[], &[], 300.0, 1.0).bounded);
    }

    #[test]
    fn samples_without_a_figure_are_left_out() {
        let mut values: Vec<f64> = (0..=180).map(|_| 100.0).collect();
        values[0] = f64::NAN;
        let judgement = judge(&times(), &values, 300.0, 1.0);
        assert!(judgement.bounded && judgement.first == 100.0, "{judgement:?}");
    }
}
