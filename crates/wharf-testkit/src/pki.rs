//! A private certificate authority and a server certificate it signed, for HTTPS tests
//! that must verify a chain (loopback names skip verification, as in Docker, so the
//! certificate is for a made-up host name that tests resolve to 127.0.0.1).

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};

use crate::registry::Tls;

/// The host name the server certificate is for.
pub const TLS_HOST: &str = "registry.test";

pub struct Pki {
    /// The CA certificate a client must trust.
    pub ca_pem: String,
    /// The server's certificate (for [`TLS_HOST`]) and key.
    pub tls: Tls,
}

pub fn private_ca() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![TLS_HOST.to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        tls: Tls {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
    }
}
