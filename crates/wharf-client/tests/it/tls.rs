//! HTTPS against distribution with a certificate from a private CA.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use wharf_client::{Client, ClientError};
use wharf_testkit::pki::{private_ca, TLS_HOST as HOST};

use crate::support::fixtures::{config, push_image, random_image, reference};
use crate::support::registry::{Auth, Registry};

#[tokio::test]
async fn https_with_a_private_ca() {
    let pki = private_ca();
    let ca_pem = pki.ca_pem.clone();
    let Some(registry) = Registry::start_with(Auth::None, Some(pki.tls)) else {
        return;
    };
    let domain = format!("{HOST}:{}", registry.port);
    let addr: SocketAddr = ([127, 0, 0, 1], registry.port).into();
    let ca_path = registry.dir().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let client_config = |ca: bool, insecure: bool| {
        let mut c = config();
        c.resolve = BTreeMap::from([(HOST.to_string(), addr)]);
        if ca {
            c.ca_certs = vec![ca_path.clone()];
        }
        if insecure {
            c.insecure = vec![domain.clone()];
        }
        Client::new(c).unwrap()
    };

    let trusted = client_config(true, false);
    let img = random_image("linux/amd64", &[2000], 50);
    let tagged = reference(&domain, "secure/app:v1");
    push_image(&trusted, &tagged, &img).await;
    assert_eq!(
        trusted.resolve(&tagged).await.unwrap().manifest.bytes(),
        img.manifest.bytes()
    );

    // Without the CA the certificate is refused, with a hint.
    let err = client_config(false, false)
        .resolve(&tagged)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&domain) && text.contains("certificate"),
        "{text}"
    );
    assert!(err.hint().unwrap().contains("ca-certs"), "{:?}", err.hint());

    // Listed insecure: HTTPS without checking the certificate, as Docker does.
    assert_eq!(
        client_config(false, true)
            .resolve(&tagged)
            .await
            .unwrap()
            .descriptor
            .digest,
        *img.manifest.digest()
    );
}
