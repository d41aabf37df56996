//! Reading one file by URL, for the catalog: repository URLs of GitHub integrations through
//! GitHub's API (with the integration's credentials), other hosts over plain HTTP when they are
//! integrations or `backend.reading.allow` hosts. The same reader the fetch actions use.

use std::sync::Arc;

use crate::action::StepError;
use crate::fetch::{FetchConfig, Fetcher, Source};
use crate::github::Github;

#[derive(Debug)]
pub struct UrlReader {
    fetcher: Fetcher,
}

impl UrlReader {
    pub fn new(fetch: FetchConfig, github: Arc<Github>) -> Self {
        UrlReader { fetcher: Fetcher::new(fetch).with_github(github) }
    }

    /// The file at `url`, at most `limit` bytes.
    pub async fn read(&self, url: &str, limit: u64) -> Result<Vec<u8>, StepError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(StepError::input(format!("{url} is not an http(s) URL")));
        }
        self.fetcher.read(&Source::Remote(url.to_owned()), limit, None).await
    }
}
