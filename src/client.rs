//! Requests in, typed answers out: the builder API over HTTP, with auth, retries and backoff.
//!
//! Only this module speaks HTTP. Tokens and keys live in memory only; no error, event or log
//! line ever carries them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::api::{
    ApiKeyRequest, BuildInfo, BuildList, ErrorBody, ListQuery, SubmitResponse, TokenResponse,
};
use crate::config::ApiConfig;

/// How much of an unexpected body an error quotes.
const QUOTE_BYTES: usize = 120;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("authentication failed: {message}")]
    Auth { message: String },
    /// A 401 not yet acted on: the retry loop renews the token once, then reports [`ApiError::Auth`].
    #[error("{what} answered 401: {message}")]
    Unauthorized { what: String, message: String },
    #[error("{method} {path} answered {status}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{method} {path} answered {status} with an unexpected body ({about}): {quote:?}")]
    BadBody {
        method: String,
        path: String,
        status: u16,
        about: String,
        quote: String,
    },
    #[error("cannot read the upload {path}: {message}")]
    Upload { path: String, message: String },
    #[error("no credentials: set {token_env} (an access token) or {api_key_env} (an API key)")]
    NoCredentials {
        token_env: String,
        api_key_env: String,
    },
}

impl ApiError {
    /// Network faults, timeouts, 429 and 5xx may pass; everything else will not.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Unreachable { .. } => true,
            ApiError::Http { status, .. } => *status == 429 || *status >= 500,
            ApiError::BadBody { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Where the access token comes from. Debug never shows the secrets.
#[derive(Clone, Default)]
pub struct Credentials {
    pub token: Option<String>,
    pub api_key: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// Reads the variables the config names; empty values count as unset.
    pub fn from_env(api: &ApiConfig) -> Credentials {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Credentials {
            token: read(&api.token_env),
            api_key: read(&api.api_key_env),
        }
    }
}

/// How often a failed request is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// `None`: forever (the daemon); `Some(n)`: at most n attempts in all (one-shot commands).
    pub attempts: Option<u32>,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn forever() -> RetryPolicy {
        RetryPolicy {
            attempts: None,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }

    pub fn bounded(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts: Some(attempts),
            first_delay: Duration::from_millis(300),
            max_delay: Duration::from_secs(5),
        }
    }

    /// The pause before attempt `attempt + 1` (attempt counts from 1): exponential, capped,
    /// with full jitter on the upper half so that many clients do not retry in step;
    /// a server's `Retry-After` is a floor.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = self
            .first_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let jittered = capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        match retry_after {
            Some(floor) => jittered.max(floor),
            None => jittered,
        }
    }
}

/// Called before each retry with the error and the pause that follows.
pub type RetryHook = Arc<dyn Fn(&ApiError, Duration) + Send + Sync>;

#[derive(Default)]
struct Token {
    value: Option<String>,
    /// When a token from the key exchange should be renewed; `None` for a given token.
    renew_at: Option<Instant>,
}

pub struct Client {
    http: reqwest::Client,
    /// The longest one request may take from start to end (an upload gets more per byte).
    request_timeout: Duration,
    base: String,
    auth_scheme: String,
    credentials: Credentials,
    token: Mutex<Token>,
    retry: RetryPolicy,
    on_retry: Option<RetryHook>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

impl Client {
    pub fn new(
        api: &ApiConfig,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> Result<Client, ApiError> {
        if credentials.token.is_none() && credentials.api_key.is_none() {
            return Err(ApiError::NoCredentials {
                token_env: api.token_env.clone(),
                api_key_env: api.api_key_env.clone(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(api.request_timeout.min(Duration::from_secs(10)))
            .read_timeout(api.request_timeout)
            .user_agent(concat!("gcwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unreachable {
                url: api.url.clone(),
                message: e.to_string(),
            })?;
        Ok(Client {
            http,
            request_timeout: api.request_timeout,
            base: api.url.trim_end_matches('/').to_string(),
            auth_scheme: api.auth_scheme.clone(),
            token: Mutex::new(Token {
                value: credentials.token.clone(),
                renew_at: None,
            }),
            credentials,
            retry,
            on_retry: None,
        })
    }

    pub fn with_retry_hook(mut self, hook: RetryHook) -> Client {
        self.on_retry = Some(hook);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Uploads a zip and returns the new build's id. The file is read anew for each attempt.
    pub async fn submit(
        &self,
        function_id: &str,
        arch: &str,
        zip: &Path,
    ) -> Result<String, ApiError> {
        self.submit_with_progress(function_id, arch, zip, None)
            .await
    }

    /// [`Client::submit`], calling `on_sent` with the bytes sent so far as the body goes out
    /// (from 0 again on a retry).
    pub async fn submit_with_progress(
        &self,
        function_id: &str,
        arch: &str,
        zip: &Path,
        on_sent: Option<SentCallback>,
    ) -> Result<String, ApiError> {
        let path = format!("/build/{function_id}?arch={arch}");
        let response: SubmitResponse = self
            .with_retries(|| async {
                let file = tokio::fs::File::open(zip)
                    .await
                    .map_err(|e| upload_error(zip, e))?;
                let len = file
                    .metadata()
                    .await
                    .map_err(|e| upload_error(zip, e))?
                    .len();
                // A slow link may need longer than one request's time for a big zip: allow
                // one more second per MiB on top.
                let allowance = Duration::from_secs(len >> 20);
                let request = self
                    .request(Method::POST, &path)
                    .timeout(self.request_timeout + allowance)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, len)
                    .body(upload_body(file, on_sent.clone()));
                self.send_authorized("POST", &path, request).await
            })
            .await?;
        Ok(response.id)
    }

    pub async fn build(&self, build_id: &str) -> Result<BuildInfo, ApiError> {
        let path = format!("/build/{build_id}");
        self.with_retries(|| self.send_authorized("GET", &path, self.request(Method::GET, &path)))
            .await
    }

    pub async fn list(&self, query: &ListQuery) -> Result<BuildList, ApiError> {
        let path = "/build/list";
        self.with_retries(|| {
            self.send_authorized("GET", path, self.request(Method::GET, path).query(query))
        })
        .await
    }

    /// A request that gives up after `request_timeout` in all: a server that accepts a
    /// connection and then never answers (or never reads) cannot hold a poll or an upload.
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .timeout(self.request_timeout)
    }

    /// Runs one request until it succeeds, retrying transient failures with backoff, and
    /// renewing the token from the API key once on a 401. `attempt_once` builds the request
    /// anew each time, so that a body (an upload) is read again from its start.
    async fn with_retries<T, F, Fut>(&self, mut attempt_once: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut attempt = 1;
        let mut renewed = false;
        loop {
            match attempt_once().await {
                Ok(v) => return Ok(v),
                Err(ApiError::Unauthorized { what, message }) => {
                    if renewed || self.credentials.api_key.is_none() {
                        let with = if renewed { " with a renewed token" } else { "" };
                        return Err(ApiError::Auth {
                            message: format!("{what} was refused{with} (401: {message})"),
                        });
                    }
                    tracing::debug!("401 from {what}; renewing the token from the API key");
                    renewed = true;
                    // The next attempt exchanges the key again, with the retries of any attempt.
                    self.token.lock().await.value = None;
                }
                Err(e) if e.is_transient() && self.retry.attempts.is_none_or(|n| attempt < n) => {
                    let retry_after = match &e {
                        ApiError::Http { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    let pause = self.retry.delay(attempt, retry_after, rand::rng().random());
                    tracing::debug!(attempt, ?pause, error = %e, "retrying");
                    if let Some(hook) = &self.on_retry {
                        hook(&e, pause);
                    }
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends with the current token and reads the JSON answer; a 401 is
    /// [`ApiError::Unauthorized`], for [`Client::with_retries`] to act on.
    async fn send_authorized<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let token = self.current_token().await?;
        let response = self
            .send(request.header(AUTHORIZATION, self.authorization(&token)?))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(ApiError::Unauthorized {
                what: format!("{method} {path}"),
                message: error_message(response).await,
            });
        }
        read_json(method, path, response).await
    }

    fn authorization(&self, token: &str) -> Result<HeaderValue, ApiError> {
        let value = if self.auth_scheme.is_empty() {
            token.to_string()
        } else {
            format!("{} {token}", self.auth_scheme)
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| ApiError::Auth {
            message: "the access token holds characters an HTTP header cannot carry".to_string(),
        })?;
        header.set_sensitive(true);
        Ok(header)
    }

    /// The token to send: the given one, or one from the key exchange, renewed when it is
    /// about to expire or was dropped after a 401.
    async fn current_token(&self) -> Result<String, ApiError> {
        let mut token = self.token.lock().await;
        let expired = token.renew_at.is_some_and(|at| Instant::now() >= at);
        if let (Some(value), false) = (&token.value, expired) {
            return Ok(value.clone());
        }
        let Some(key) = &self.credentials.api_key else {
            return token.value.clone().ok_or_else(|| ApiError::Auth {
                message: "no access token and no API key".to_string(),
            });
        };
        let path = "/auth/apiKey";
        let response = self
            .send(
                self.request(Method::POST, path)
                    .json(&ApiKeyRequest { key: key.clone() }),
            )
            .await?;
        if matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            let status = response.status().as_u16();
            let refused = error_message(response).await;
            return Err(ApiError::Auth {
                message: format!("the API key was refused ({status}: {refused})"),
            });
        }
        let answer: TokenResponse = read_json("POST", path, response).await?;
        // Renew when 90% of the lifetime has passed, so that no request goes out on a token
        // that expires in flight.
        let lifetime = Duration::from_secs(answer.expires_in.max(1));
        token.renew_at = Some(Instant::now() + lifetime.mul_f64(0.9));
        token.value = Some(answer.access_token);
        Ok(token.value.clone().unwrap_or_default())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        request.send().await.map_err(|e| ApiError::Unreachable {
            url: self.base.clone(),
            message: describe_reqwest(&e),
        })
    }
}

/// Called with the bytes of an upload sent so far.
pub type SentCallback = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// The zip as a streamed body, counting what has been handed to the connection.
fn upload_body(file: tokio::fs::File, on_sent: Option<SentCallback>) -> reqwest::Body {
    let Some(on_sent) = on_sent else {
        return reqwest::Body::from(file);
    };
    on_sent(0);
    let mut sent = 0u64;
    let stream =
        futures_util::StreamExt::inspect(tokio_util::io::ReaderStream::new(file), move |chunk| {
            if let Ok(chunk) = chunk {
                sent += chunk.len() as u64;
                on_sent(sent);
            }
        });
    reqwest::Body::wrap_stream(stream)
}

fn upload_error(zip: &Path, e: std::io::Error) -> ApiError {
    ApiError::Upload {
        path: zip.display().to_string(),
        message: e.to_string(),
    }
}

/// reqwest's Display stops at the outermost cause; the root cause is what users need.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}

/// Reads a 2xx body as JSON, or turns any other answer into an error with the server's words.
async fn read_json<T: DeserializeOwned>(
    method: &str,
    path: &str,
    response: reqwest::Response,
) -> Result<T, ApiError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.map_err(|e| ApiError::Unreachable {
        url: path.to_string(),
        message: describe_reqwest(&e),
    })?;
    if !status.is_success() {
        return Err(ApiError::Http {
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            message: server_message(&body),
            retry_after,
        });
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadBody {
        method: method.to_string(),
        path: path.to_string(),
        status: status.as_u16(),
        about: e.to_string(),
        quote: quote(&body),
    })
}

async fn error_message(response: reqwest::Response) -> String {
    match response.bytes().await {
        Ok(body) => server_message(&body),
        Err(_) => "no body".to_string(),
    }
}

/// The `error` of a JSON error body, else the first bytes of the body.
fn server_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) if body.is_empty() => "empty body".to_string(),
        Err(_) => format!("body {:?}", quote(body)),
    }
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTE_BYTES)]);
    let mut text = text.replace(char::is_control, " ");
    if body.len() > QUOTE_BYTES {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let p = RetryPolicy {
            attempts: None,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let ms = |d: Duration| d.as_millis() as u64;
        let cases = [
            // (attempt, retry_after, jitter, expected ms)
            (1, None, 1.0, 100),
            (2, None, 1.0, 200),
            (3, None, 1.0, 400),
            (5, None, 1.0, 1000),
            (40, None, 1.0, 1000),
            (1, None, 0.0, 50),
            (3, None, 0.5, 300),
            (1, Some(Duration::from_secs(2)), 1.0, 2000),
            (5, Some(Duration::from_millis(10)), 1.0, 1000),
        ];
        for (attempt, retry_after, jitter, want) in cases {
            assert_eq!(
                ms(p.delay(attempt, retry_after, jitter)),
                want,
                "attempt {attempt}, retry_after {retry_after:?}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn transient_errors() {
        let http = |status| ApiError::Http {
            method: "GET".into(),
            path: "/x".into(),
            status,
            message: String::new(),
            retry_after: None,
        };
        for (error, want) in [
            (http(429), true),
            (http(500), true),
            (http(503), true),
            (http(400), false),
            (http(404), false),
            (
                ApiError::Unreachable {
                    url: String::new(),
                    message: String::new(),
                },
                true,
            ),
            (
                ApiError::Auth {
                    message: String::new(),
                },
                false,
            ),
        ] {
            assert_eq!(error.is_transient(), want, "{error}");
        }
    }

    #[test]
    fn server_messages_and_quotes() {
        assert_eq!(server_message(br#"{"error":"bad arch"}"#), "bad arch");
        assert_eq!(server_message(b""), "empty body");
        assert_eq!(
            server_message(b"<html>\n<body>502</body>"),
            "body \"<html> <body>502</body>\""
        );
        let long = vec![b'x'; 500];
        assert_eq!(quote(&long).chars().count(), QUOTE_BYTES + 1);
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials {
            token: Some("tok-SECRET".into()),
            api_key: Some("key-SECRET".into()),
        };
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}
