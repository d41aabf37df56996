//! Reading objects from S3 or an S3-compatible store (MinIO, moto, ...) for the TechDocs
//! publisher `awsS3`: one signed `GET` per object (AWS Signature Version 4), path-style or
//! virtual-hosted addressing.
//!
//! Invariant: the secret key is used only to derive the signing key; it never appears in a
//! request, a log line or an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// `techdocs.publisher.awsS3`.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// `endpoint`: an S3-compatible server; AWS's regional endpoint when absent.
    pub endpoint: Option<String>,
    /// `s3ForcePathStyle`: `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint host>/<key>`.
    pub path_style: bool,
    /// `bucketRootPath`: a prefix inside the bucket.
    pub root_path: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// An object's bytes and its `ETag`.
pub(crate) struct Object {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
}

pub(crate) struct S3 {
    config: S3Config,
    http: reqwest::Client,
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The largest object served.
const MAX_OBJECT: usize = 64 << 20;

impl S3 {
    pub fn new(config: S3Config) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with a timeout builds");
        S3 { config, http }
    }

    fn url(&self, key: &str) -> String {
        let key = encode_path(&format!("{}{key}", self.config.root_path));
        match (&self.config.endpoint, self.config.path_style) {
            (Some(endpoint), true) => format!("{}/{}/{key}", endpoint.trim_end_matches('/'), self.config.bucket),
            (Some(endpoint), false) => {
                let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
                format!("{scheme}://{}.{}/{key}", self.config.bucket, host.trim_end_matches('/'))
            }
            (None, true) => format!("https://s3.{}.amazonaws.com/{}/{key}", self.config.region, self.config.bucket),
            (None, false) => format!("https://{}.s3.{}.amazonaws.com/{key}", self.config.bucket, self.config.region),
        }
    }

    /// The object at `key` (below `bucketRootPath`); `Ok(None)` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, String> {
        let url = self.url(key);
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("invalid S3 URL: {e}"))?;
        let host = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_owned(),
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let (amz_date, date) = amz_dates(now);
        let mut headers = vec![
            ("host".to_owned(), host),
            ("x-amz-content-sha256".to_owned(), EMPTY_SHA256.to_owned()),
            ("x-amz-date".to_owned(), amz_date.clone()),
        ];
        if let Some(token) = &self.config.session_token {
            headers.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        let authorization = self.authorization(parsed.path(), &headers, &amz_date, &date);
        let mut request = self.http.get(parsed.clone()).header("authorization", authorization);
        for (name, value) in headers.iter().filter(|(name, _)| name != "host") {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.map_err(|e| format!("S3 could not be reached: {}", e.without_url()))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            status => {
                let body = response.text().await.unwrap_or_default();
                let code = between(&body, "<Code>", "</Code>").unwrap_or("no error code");
                return Err(format!("S3 answered {status} ({code}) for bucket {}", self.config.bucket));
            }
        }
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if response.content_length().is_some_and(|len| len as usize > MAX_OBJECT) {
            return Err(format!("the object {key} is larger than {MAX_OBJECT} bytes"));
        }
        let bytes = response.bytes().await.map_err(|e| format!("reading from S3 broke off: {}", e.without_url()))?;
        Ok(Some(Object { bytes: bytes.to_vec(), etag }))
    }

    /// AWS Signature Version 4 for a GET without query or body.
    fn authorization(&self, path: &str, headers: &[(String, String)], amz_date: &str, date: &str) -> String {
        let mut sorted: Vec<&(String, String)> = headers.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let canonical_headers: String = sorted.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
        let signed_headers = sorted.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
        let canonical_request = format!("GET\n{path}\n\n{canonical_headers}\n{signed_headers}\n{EMPTY_SHA256}");
        let scope = format!("{date}/{}/s3/aws4_request", self.config.region);
        let string_to_sign =
            format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
        let key = [date, &self.config.region, "s3", "aws4_request"]
            .iter()
            .fold(format!("AWS4{}", self.config.secret_access_key).into_bytes(), |key, part| {
                hmac(&key, part.as_bytes())
            });
        let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.config.access_key_id
        )
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// S3's URI encoding of a key: every byte but unreserved characters and `/`.
fn encode_path(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// `YYYYMMDDTHHMMSSZ` and `YYYYMMDD` for a Unix time.
fn amz_dates(unix: u64) -> (String, String) {
    let days = (unix / 86_400) as i64;
    let seconds = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    (format!("{date}T{:02}{:02}{:02}Z", seconds / 3600, seconds % 3600 / 60, seconds % 60), date)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of AWS's documentation ("GET Object", Signature Version 4).
    #[test]
    fn signs_like_aws_documents() {
        let s3 = S3::new(S3Config {
            bucket: "examplebucket".to_owned(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            path_style: false,
            root_path: String::new(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        });
        let headers = vec![
            ("host".to_owned(), "examplebucket.s3.amazonaws.com".to_owned()),
            ("range".to_owned(), "bytes=0-9".to_owned()),
            ("x-amz-content-sha256".to_owned(), EMPTY_SHA256.to_owned()),
            ("x-amz-date".to_owned(), "20130524T000000Z".to_owned()),
        ];
        let authorization = s3.authorization("/test.txt", &headers, "20130524T000000Z", "20130524");
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(amz_dates(1_369_353_600), ("20130524T000000Z".to_owned(), "20130524".to_owned()));
        assert_eq!(amz_dates(951_782_400).1, "20000229");
        assert_eq!(encode_path("a b/ü.html"), "a%20b/%C3%BC.html");
        assert_eq!(
            s3.url("default/component/web/index.html"),
            "https://examplebucket.s3.us-east-1.amazonaws.com/default/component/web/index.html"
        );
    }
}
