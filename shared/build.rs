//! Mozilla's root certificates (`webpki-root-certs`) as one PEM bundle in
//! `OUT_DIR`, for the AWS SDK's trust store (`src/tls.rs`), which takes PEM:
//! encoded here, once, rather than at every function's start.

use std::fmt::Write as _;

use base64::Engine;

fn main() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pem = String::new();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let _ = write!(
            pem,
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            b64.encode(der.as_ref())
        );
    }
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("roots.pem");
    std::fs::write(out, pem).expect("roots.pem");
}
