//! TLS for every connection INC opens — to AWS, to merchants' endpoints and
//! to providers — trusting Mozilla's roots compiled into the binary
//! (`webpki-roots`, and `webpki-root-certs` as one PEM bundle written by
//! `build.rs` where the SDK wants PEM), so that no function reads the
//! system's certificate folder when it starts. On Lambda's image that folder is the same Mozilla set;
//! reading it (one file per certificate) was most of every function's init.
//!
//! The SDK's HTTP client is shared by every SDK client a function holds, and
//! builds its TLS connector once, at the first request, for all of them (it
//! keeps connectors by their timeouts). Left as it comes, it also builds one
//! at each client's construction, to throw away: with eight clients that was
//! 3 ms of `deliver`'s init. [`OneConnector`] skips that throwaway.
//!
//! A client still costs about 0.1 ms to build (it reads the SDK's partition
//! table): one that only some deliveries need (SES, SNS, EventBridge, the
//! `@connections` API) is built [`OnFirstUse`].

use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;

use crate::error::{Error, Result};

/// Mozilla's roots as the SDK takes them: PEM, encoded at build time.
static ROOTS_PEM: &str = include_str!(concat!(env!("OUT_DIR"), "/roots.pem"));

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
    store.add_pem_certificate(ROOTS_PEM.as_bytes());
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| Error::Config(format!("TLS for AWS: {e}")))?;
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    Ok(OneConnector(client).into_shared())
}

/// The SDK's HTTP client as it is, but for the check each SDK client runs
/// when it is built: hyper's builds a TLS connector there (parsing every
/// root) and drops it, "so that certificates load early". Ours are compiled
/// in and cannot fail to load, and the connector the first request builds is
/// the one kept.
#[derive(Debug)]
struct OneConnector(SharedHttpClient);

impl HttpClient for OneConnector {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
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

/// An SDK client built at its first use rather than at init, from the
/// function's SDK configuration.
#[derive(Clone)]
pub struct OnFirstUse<C> {
    sdk: aws_config::SdkConfig,
    build: Arc<dyn Fn(&aws_config::SdkConfig) -> C + Send + Sync>,
    client: OnceLock<C>,
}

impl<C> OnFirstUse<C> {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        build: impl Fn(&aws_config::SdkConfig) -> C + Send + Sync + 'static,
    ) -> Self {
        OnFirstUse {
            sdk: sdk.clone(),
            build: Arc::new(build),
            client: OnceLock::new(),
        }
    }

    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.sdk))
    }
}

impl<C> std::fmt::Debug for OnFirstUse<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnFirstUse")
            .field("built", &self.client.get().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_sqs::config::{ConfigBag, RuntimeComponentsBuilder};
    use aws_sdk_sqs::error::BoxError;

    use super::*;

    #[test]
    fn both_trust_stores_hold_the_compiled_in_roots() {
        let config = client_config().expect("config");
        assert!(config.alpn_protocols.contains(&b"h2".to_vec()));
        // Mozilla's set, from the two crates' releases (a root or two apart).
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        assert_eq!(
            ROOTS_PEM.matches("-----BEGIN CERTIFICATE-----").count(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
        sdk_http_client().expect("client");
    }

    /// An HTTP client that counts the checks SDK clients run on it.
    #[derive(Debug, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("no request is made")
        }

        fn validate_base_client_config(
            &self,
            _: &RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> std::result::Result<(), BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn sdk_config(http: SharedHttpClient) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(http)
            .build()
    }

    #[test]
    fn building_sdk_clients_builds_no_connector() {
        let checks = Arc::new(AtomicUsize::new(0));
        let counting = SharedHttpClient::new(Counting(checks.clone()));
        let sdk = sdk_config(OneConnector(counting.clone()).into_shared());
        for _ in 0..3 {
            let _ = aws_sdk_dynamodb::Client::new(&sdk);
            let _ = aws_sdk_sqs::Client::new(&sdk);
        }
        assert_eq!(checks.load(Ordering::SeqCst), 0);
        // Without the wrapper each client runs the check, where hyper's
        // client builds its throwaway connector.
        let _ = aws_sdk_sqs::Client::new(&sdk_config(counting));
        assert_eq!(checks.load(Ordering::SeqCst), 1);
    }
}
