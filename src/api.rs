//! Wire types of the GreenCloud builder API: what the client sends and reads, and what the emulator serves.
//!
//! Both sides use these types so they cannot drift apart. Unknown fields in responses are ignored.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The only architecture the builder accepts today.
pub const ARCH_AMD64: &str = "amd64";

/// `POST {url}/auth/apiKey` request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyRequest {
    pub key: String,
}

/// `POST {url}/auth/apiKey` response body.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub expires_in: u64,
    pub access_token: String,
}

impl fmt::Debug for TokenResponse {
    // The token never reaches a log, not even at trace level.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// `POST {url}/build/{functionId}?arch=amd64` response body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub id: String,
}

/// A build's status. Statuses this version does not know are kept as they came.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BuildStatus {
    Pending,
    Building,
    Success,
    Failed,
    Other(String),
}

impl BuildStatus {
    pub fn as_str(&self) -> &str {
        match self {
            BuildStatus::Pending => "PENDING",
            BuildStatus::Building => "BUILDING",
            BuildStatus::Success => "SUCCESS",
            BuildStatus::Failed => "FAILED",
            BuildStatus::Other(s) => s,
        }
    }

    /// SUCCESS and FAILED end a build; every other status is followed.
    pub fn is_final(&self) -> bool {
        matches!(self, BuildStatus::Success | BuildStatus::Failed)
    }
}

impl From<&str> for BuildStatus {
    fn from(s: &str) -> Self {
        match s {
            "PENDING" => BuildStatus::Pending,
            "BUILDING" => BuildStatus::Building,
            "SUCCESS" => BuildStatus::Success,
            "FAILED" => BuildStatus::Failed,
            other => BuildStatus::Other(other.to_string()),
        }
    }
}

impl fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BuildStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BuildStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(BuildStatus::from(s.as_str()))
    }
}

/// One step of a build's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub status: BuildStatus,
    /// RFC 3339, UTC.
    pub time: String,
}

/// `GET {url}/build/{buildId}` response body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub function_id: String,
    pub status: BuildStatus,
    #[serde(default)]
    pub arch: Vec<String>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub log: Vec<String>,
}

/// One row of `GET {url}/build/list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildSummary {
    pub id: String,
    pub function_id: String,
    pub status: BuildStatus,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `GET {url}/build/list?page=N&limit=N&functionId=ID` response body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildList {
    pub page_count: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub results: Vec<BuildSummary>,
}

/// The body of every 4xx and 5xx answer the emulator gives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Query string of the list route.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_id: Option<String>,
}

/// Function and build ids are MongoDB object ids: 24 hex digits.
pub fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids() {
        let cases = [
            ("66787c5e84809f8a29ddc2f7", true),
            ("66787C5E84809F8A29DDC2F7", true),
            ("66787c5e84809f8a29ddc2f", false),
            ("66787c5e84809f8a29ddc2f77", false),
            ("66787c5e84809f8a29ddc2fg", false),
            ("", false),
        ];
        for (id, want) in cases {
            assert_eq!(is_object_id(id), want, "{id:?}");
        }
    }

    #[test]
    fn unknown_status_survives_a_round_trip() {
        let info: BuildInfo = serde_json::from_str(
            r#"{"functionId":"a","status":"QUEUED_REMOTE","extra":1,"timeline":[{"status":"PENDING","time":"t"}]}"#,
        )
        .unwrap();
        assert_eq!(info.status, BuildStatus::Other("QUEUED_REMOTE".into()));
        assert!(!info.status.is_final());
        assert_eq!(info.timeline[0].status, BuildStatus::Pending);
        assert_eq!(serde_json::to_value(&info.status).unwrap(), "QUEUED_REMOTE");
    }
}
