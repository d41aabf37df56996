//! Backstage's duration forms: `{ minutes: 5 }`, ISO-8601 `PT5M`, and `5m` / `5 minutes`.

use std::time::Duration;

use serde_json::Value;

pub fn parse(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Object(map) => {
            let mut total = 0.0;
            for (unit, amount) in map {
                let amount = amount.as_f64().or_else(|| amount.as_str().and_then(|s| s.trim().parse().ok()));
                let Some(amount) = amount else { return Err(format!("'{unit}' must be a number")) };
                total += amount * unit_seconds(unit).ok_or_else(|| format!("unknown duration unit '{unit}'"))?;
            }
            seconds(total)
        }
        Value::String(text) => parse_text(text.trim()),
        _ => Err("expected a duration such as { minutes: 5 }, 'PT5M' or '5m'".to_owned()),
    }
}

fn seconds(total: f64) -> Result<Duration, String> {
    if !total.is_finite() || !(0.0..=1e10).contains(&total) {
        return Err("the duration is negative or too large".to_owned());
    }
    Ok(Duration::from_secs_f64(total))
}

fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "years" | "year" | "y" => 365.0 * 86_400.0,
        "months" | "month" | "mo" => 30.0 * 86_400.0,
        "weeks" | "week" | "w" => 7.0 * 86_400.0,
        "days" | "day" | "d" => 86_400.0,
        "hours" | "hour" | "h" | "hr" | "hrs" => 3600.0,
        "minutes" | "minute" | "m" | "min" | "mins" => 60.0,
        "seconds" | "second" | "s" | "sec" | "secs" => 1.0,
        "milliseconds" | "millisecond" | "ms" => 0.001,
        _ => return None,
    })
}

fn parse_text(text: &str) -> Result<Duration, String> {
    if let Some(iso) = text.strip_prefix('P').or_else(|| text.strip_prefix('p')) {
        return parse_iso(iso).ok_or_else(|| format!("'{text}' is not an ISO-8601 duration"));
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: f64 =
        number.parse().map_err(|_| format!("'{text}' is not a duration (use {{ minutes: 5 }}, 'PT5M' or '5m')"))?;
    let unit = unit.trim();
    let factor = if unit.is_empty() { None } else { unit_seconds(unit) };
    let factor = factor.ok_or_else(|| format!("'{text}' has no known unit (ms, s, m, h, d, w)"))?;
    seconds(amount * factor)
}

/// The part after `P`: `[nY][nM][nW][nD][T[nH][nM][nS]]`.
fn parse_iso(body: &str) -> Option<Duration> {
    let (date, time) = match body.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (body, None),
    };
    let mut total = 0.0;
    let mut any = false;
    for (part, in_time) in [(date, false), (time.unwrap_or(""), true)] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let amount: f64 = number.parse().ok()?;
            number.clear();
            let factor = match (c.to_ascii_uppercase(), in_time) {
                ('Y', false) => 365.0 * 86_400.0,
                ('M', false) => 30.0 * 86_400.0,
                ('W', false) => 7.0 * 86_400.0,
                ('D', false) => 86_400.0,
                ('H', true) => 3600.0,
                ('M', true) => 60.0,
                ('S', true) => 1.0,
                _ => return None,
            };
            total += amount * factor;
            any = true;
        }
        if !number.is_empty() {
            return None;
        }
    }
    (any && (time.is_none() || !time.unwrap_or("").is_empty())).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_backstage_forms() {
        let cases = [
            (json!({"minutes": 5}), 300.0),
            (json!({"hours": 1, "seconds": 30}), 3630.0),
            (json!({"milliseconds": 250}), 0.25),
            (json!("PT5M"), 300.0),
            (json!("P1DT2H"), 93_600.0),
            (json!("PT0.5S"), 0.5),
            (json!("5m"), 300.0),
            (json!("30s"), 30.0),
            (json!("2 hours"), 7200.0),
            (json!("1500ms"), 1.5),
            (json!("1d"), 86_400.0),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(&input).unwrap().as_secs_f64(), expected, "{input}");
        }
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        for bad in [
            json!("soon"),
            json!("5 parsecs"),
            json!("PT"),
            json!("P5X"),
            json!(12),
            json!({"minutes": "x"}),
            json!({"eons": 1}),
            json!("-5m"),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
