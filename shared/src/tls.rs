//! TLS for every connection INC opens — to AWS, to merchants' endpoints and
//! to providers — trusting Mozilla's roots compiled into the binary
//! (`webpki-roots`, and `webpki-root-certs` where the SDK wants
//! certificates), so that no function reads the system's certificate folder
//! when it starts. On Lambda's image that folder is the same Mozilla set;
//! reading it (one file per certificate) was most of every function's init.

use std::sync::Arc;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use base64::Engine;

use crate::error::{Error, Result};

/// The rustls configuration of the webhook and provider client.
pub fn client_config() -> Result<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The AWS SDK's HTTP client, trusting the same roots.
pub fn sdk_http_client() -> Result<SharedHttpClient> {
    let mut store = TrustStore::empty().with_native_roots(false);
    let b64 = base64::engine::general_purpose::STANDARD;
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            b64.encode(der.as_ref())
        );
        store.add_pem_certificate(pem);
    }
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| Error::Config(format!("TLS for AWS: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

/// The SDK configuration every function starts from: the standard
/// settings (region, credentials, `AWS_ENDPOINT_URL`) with the HTTP client
/// above.
pub async fn sdk_config() -> Result<aws_config::SdkConfig> {
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(sdk_http_client()?)
        .load()
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_trust_stores_hold_the_compiled_in_roots() {
        let config = client_config().expect("config");
        assert!(config.alpn_protocols.contains(&b"h2".to_vec()));
        // Mozilla's set, from the two crates' releases (a root or two apart).
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        sdk_http_client().expect("client");
    }
}
