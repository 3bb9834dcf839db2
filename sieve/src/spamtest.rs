//! RFC 5235 spamtest, spamtestplus and virustest, read from a header the way Pigeonhole's
//! `sieve_spamtest_*` / `sieve_virustest_*` settings configure it.

use regex::Regex;

use crate::editheader::Headers;
use crate::interp::decode_header;

/// How the status header holds the score.
#[derive(Debug, Clone)]
pub enum StatusType {
    /// A decimal number (`sieve_spamtest_status_type = score`).
    Score,
    /// The length of the value, e.g. `*****` (`strlen`).
    Strlen,
    /// One of these texts; the index is the value (`text`, `sieve_spamtest_text_valueN`).
    Text(Vec<Option<String>>),
}

/// One test's configuration.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub status_type: StatusType,
    /// The header holding the status, and a regex whose first group is the value.
    pub status_header: String,
    pub status_regex: Option<Regex>,
    /// A header holding the maximum, or else `max_value`.
    pub max_header: Option<(String, Option<Regex>)>,
    pub max_value: f64,
}

impl TestConfig {
    /// Parses Pigeonhole's `header[: regex]` form.
    pub fn header_spec(spec: &str) -> Result<(String, Option<Regex>), regex::Error> {
        match spec.split_once(':') {
            Some((h, re)) => Ok((h.trim().to_string(), Some(Regex::new(re.trim())?))),
            None => Ok((spec.trim().to_string(), None)),
        }
    }

    fn extract(headers: &Headers, name: &str, re: Option<&Regex>) -> Option<String> {
        let value = decode_header(headers.raw(name).next()?);
        match re {
            None => Some(value),
            Some(re) => Some(re.captures(&value)?.get(1)?.as_str().to_string()),
        }
    }

    /// The test's value: "0" when the message was not tested (no or unreadable header),
    /// else 1..10 (1..5 for virustest), or a percentage with `:percent`.
    pub fn value(&self, headers: &Headers, virus: bool, percent: bool) -> String {
        let ratio = self.ratio(headers, virus);
        let Some(r) = ratio else { return "0".into() };
        let r = r.clamp(0.0, 1.0);
        let v = if percent {
            r * 100.0 + 0.001
        } else if virus {
            r * 4.0 + 1.001
        } else {
            r * 9.0 + 1.001
        };
        (v as i64).to_string()
    }

    fn ratio(&self, headers: &Headers, virus: bool) -> Option<f64> {
        let max = match &self.status_type {
            StatusType::Text(_) => {
                if virus {
                    5.0
                } else {
                    10.0
                }
            }
            _ => match &self.max_header {
                Some((h, re)) => Self::extract(headers, h, re.as_ref())?.trim().parse::<f64>().ok()?,
                None => self.max_value,
            },
        };
        if max == 0.0 {
            return None;
        }
        let status = Self::extract(headers, &self.status_header, self.status_regex.as_ref())?;
        let value = match &self.status_type {
            StatusType::Score => status.trim().parse::<f64>().ok()?,
            StatusType::Strlen => status.chars().count() as f64,
            StatusType::Text(values) => {
                values.iter().position(|v| v.as_deref() == Some(status.as_str()))? as f64
            }
        };
        Some(if value < 0.0 { 0.0 } else { (value / max).min(1.0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> Headers {
        Headers { fields: vec![("X-Spam-Score".into(), format!(" {v}"))], changed: false }
    }

    #[test]
    fn values() {
        let (h, re) = TestConfig::header_spec("X-Spam-Score: score=(-?[0-9.]+)").unwrap();
        let cfg = TestConfig {
            status_type: StatusType::Score,
            status_header: h,
            status_regex: re,
            max_header: None,
            max_value: 10.0,
        };
        assert_eq!(cfg.value(&headers("score=5.0"), false, false), "5");
        assert_eq!(cfg.value(&headers("score=5.0"), false, true), "50");
        assert_eq!(cfg.value(&headers("score=25"), false, false), "10");
        assert_eq!(cfg.value(&headers("score=-3"), false, false), "1");
        assert_eq!(cfg.value(&headers("nothing"), false, false), "0");
        assert_eq!(cfg.value(&Headers::default(), false, false), "0");
        let strlen = TestConfig { status_type: StatusType::Strlen, status_regex: None, ..cfg };
        assert_eq!(strlen.value(&headers("*****"), false, false), "5");
    }
}
