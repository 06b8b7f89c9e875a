//! HTTP requests in, the builder API's answers out: the routes, the token check and the error bodies.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use tokio::task::spawn_blocking;

use crate::api::{
    is_object_id, ApiKeyRequest, BuildInfo, BuildList, ErrorBody, ListQuery, SubmitResponse,
    TokenResponse, ARCH_AMD64,
};
use crate::events::human_bytes;

use super::auth;
use super::conn::Cutter;
use super::faults::{Fault, RequestKind};
use super::ids::new_token;
use super::record::PageRequest;
use super::{lock, Shared};

/// The whole API under `/v1`.
///
/// `/build/list` is a static route, which the router prefers over
/// `/build/{id}`, so "list" is never taken for a build id. The one
/// `/build/{id}` route carries a function id on POST and a build id on GET:
/// the router wants a single parameter name per path.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let protected = Router::new()
        .route("/build/list", get(list_builds))
        .route("/build/{id}", get(build_info).post(submit))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ));
    let api = Router::new()
        .route("/auth/apiKey", post(exchange_key))
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed);
    let limit = usize::try_from(shared.max_upload_bytes).unwrap_or(usize::MAX);
    // Fault injection sits just inside the request log: it then reaches
    // every route, key exchange and unknown paths included, and what it
    // injects is still logged.
    Router::new()
        .nest("/v1", api)
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            inject_faults,
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(shared)
}

/// An answer other than success: the status and `{"error": ...}`.
#[derive(Debug)]
pub(super) struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// axum's own rejections keep their status and wording, in our body shape.
macro_rules! impl_from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for Failure {
            fn from(rejection: $rejection) -> Failure {
                Failure::new(rejection.status(), rejection.body_text())
            }
        }
    )*};
}
impl_from_rejection!(BytesRejection, JsonRejection, PathRejection, QueryRejection);

async fn log_request(request: Request, next: Next) -> Response {
    // Method and path only: the query is not needed, and headers carry tokens.
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Delays the answer by `--latency-ms`, then asks the fault plan what to do
/// to this request; a faulted request never reaches its handler.
async fn inject_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(faults) = &shared.faults else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    // POST on the list route is a 405, not an upload.
    let kind = if request.method() == Method::POST
        && path.starts_with("/v1/build/")
        && path != "/v1/build/list"
    {
        RequestKind::Upload
    } else {
        RequestKind::Other
    };
    let (fault, latency) = {
        let mut plan = lock(faults);
        (plan.decide(kind), plan.settings().latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => next.run(request).await,
        Some(Fault::Unavailable) => Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is unavailable (--fail-rate)",
        )
        .into_response(),
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests (--rate-limit-every)",
            )
            .into_response();
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Some(Fault::Garbage) => (
            StatusCode::BAD_GATEWAY,
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            GARBAGE_PAGE,
        )
            .into_response(),
        Some(Fault::ResetUpload) => cut_while_reading(request).await,
    }
}

/// What `--garbage-every` answers: a proxy's error page, not the API's JSON.
const GARBAGE_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>502 Bad Gateway</h1><p>The upstream server sent an invalid response (--garbage-every).</p></body></html>\n";

/// Reads about half of the body, then cuts the connection, so the client
/// sees it reset with no answer and nothing is stored.
async fn cut_while_reading(request: Request) -> Response {
    let cutter = request.extensions().get::<ConnectInfo<Cutter>>().cloned();
    let half = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok())
        .map_or(1, |length| (length / 2).max(1));
    // Stops with an error once more than `half` bytes came in: the body is
    // then read partway.
    let _ = axum::body::to_bytes(request.into_body(), half).await;
    match cutter {
        Some(ConnectInfo(cutter)) => {
            tracing::debug!("cutting an upload's connection (--reset-upload-every)");
            cutter.cut();
            // Never sent: the cut connection fails the write of its head.
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        // Served without connection info, there is nothing to cut; answer
        // the way the failure would look from a proxy instead.
        None => Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the upload's connection would have been cut (--reset-upload-every)",
        )
        .into_response(),
    }
}

async fn require_token(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Result<Response, Failure> {
    let unauthorized = |message: &str| Failure::new(StatusCode::UNAUTHORIZED, message);
    let header = match request.headers().get(AUTHORIZATION) {
        None => {
            return Err(unauthorized(
                "missing Authorization header; send `Bearer TOKEN`",
            ))
        }
        Some(value) => value.to_str().unwrap_or_default(),
    };
    let Some(token) = auth::token_of(header) else {
        return Err(unauthorized(
            "unsupported Authorization header; send `Bearer TOKEN` or the bare token",
        ));
    };
    if !lock(&shared.credentials).admits(token, Instant::now()) {
        return Err(unauthorized("invalid or expired access token"));
    }
    Ok(next.run(request).await)
}

async fn exchange_key(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<ApiKeyRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, Failure> {
    let Json(request) = body?;
    let token = new_token();
    let mut credentials = lock(&shared.credentials);
    credentials
        .exchange(&request.key, token.clone(), Instant::now())
        .map_err(|refusal| Failure::new(StatusCode::UNAUTHORIZED, refusal.to_string()))?;
    Ok(Json(TokenResponse {
        expires_in: credentials.lifetime().as_secs(),
        access_token: token,
    }))
}

#[derive(Debug, Deserialize)]
struct SubmitQuery {
    arch: Option<String>,
}

/// Checks, in order: the function id, `arch`, the content type, the body.
async fn submit(
    State(shared): State<Arc<Shared>>,
    function_id: Result<Path<String>, PathRejection>,
    query: Result<Query<SubmitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), Failure> {
    let Path(function_id) = function_id?;
    if !is_object_id(&function_id) {
        return Err(Failure::bad_request(format!(
            "function id must be 24 hex digits, got {function_id:?}"
        )));
    }
    let function_id = function_id.to_ascii_lowercase();
    let Query(query) = query?;
    match query.arch.as_deref() {
        None => {
            return Err(Failure::bad_request(format!(
                "missing query parameter arch (the builder accepts {ARCH_AMD64})"
            )))
        }
        Some(ARCH_AMD64) => {}
        Some(other) => {
            return Err(Failure::bad_request(format!(
                "unsupported arch {other:?}; the builder accepts {ARCH_AMD64}"
            )))
        }
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/octet-stream") {
        return Err(Failure::bad_request(format!(
            "Content-Type must be application/octet-stream, got {content_type:?}"
        )));
    }
    let upload = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload is larger than this emulator's limit of {} (--max-upload-mb)",
                    human_bytes(shared.max_upload_bytes)
                ),
            )
        } else {
            Failure::from(rejection)
        }
    })?;
    if upload.is_empty() {
        return Err(Failure::bad_request("the body is empty; send the zip"));
    }

    let record = lock(&shared.store).create(function_id, Utc::now());
    let stored = {
        let (disk, record, upload) = (shared.disk.clone(), record.clone(), upload.clone());
        spawn_blocking(move || {
            disk.save_upload(&record.id, &upload)?;
            disk.save_record(&record)
        })
        .await
    };
    if let Err(e) = stored.map_err(std::io::Error::other).and_then(|r| r) {
        tracing::error!(error = %e, "cannot store an upload");
        return Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot store the upload: {e}"),
        ));
    }
    let id = record.id.clone();
    tracing::debug!(
        build = id,
        function = record.function_id,
        bytes = upload.len(),
        "build accepted"
    );
    lock(&shared.store).insert(record);
    shared.spawn_build(id.clone(), Some(upload));
    Ok((StatusCode::CREATED, Json(SubmitResponse { id })))
}

/// A malformed build id is a 400, not a 404: the caller sent something that
/// can never name a build, and should hear that rather than "not found".
async fn build_info(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<BuildInfo>, Failure> {
    let Path(id) = id?;
    if !is_object_id(&id) {
        return Err(Failure::bad_request(format!(
            "build id must be 24 hex digits, got {id:?}"
        )));
    }
    let id = id.to_ascii_lowercase();
    match lock(&shared.store).get(&id) {
        Some(record) => Ok(Json(record.info())),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("no build with id {id}"),
        )),
    }
}

async fn list_builds(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<BuildList>, Failure> {
    let Query(query) = query?;
    let request =
        PageRequest::from_query(&query).map_err(|e| Failure::bad_request(e.to_string()))?;
    Ok(Json(lock(&shared.store).page(&request)))
}

async fn no_route(method: Method, uri: Uri) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
