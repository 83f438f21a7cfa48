use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use wharf_client::{BlobStream, ClientError, Mount};
use wharf_spec::{media_type, Descriptor, Digest};

use crate::support::fixtures::{client, data, push_image, random_image, reference};
use crate::support::registry::Auth;

async fn collect(mut stream: BlobStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test]
async fn blobs_stream_whole_and_from_an_offset() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    // 3 MiB: streamed up in chunks, streamed down in many.
    let img = random_image("linux/amd64", &[3 << 20, 100], 5);
    let repo = reference(&registry.host, "blobs:v1");
    push_image(&client, &repo, &img).await;
    let descriptor = img.layers[0].descriptor();
    let layer = &img.layers[0].blob;

    let whole = client.fetch_blob(&repo, &descriptor, 0).await.unwrap();
    assert_eq!((whole.offset(), whole.size()), (0, layer.len() as u64));
    let bytes = collect(whole).await;
    assert_eq!(Digest::sha256_of(&bytes), descriptor.digest);

    // Resuming from a partial download: the registry answers 206 with the rest.
    let offset = 1_234_567;
    let rest = collect(client.fetch_blob(&repo, &descriptor, offset).await.unwrap()).await;
    assert_eq!(rest.len(), layer.len() - offset as usize);
    assert_eq!(rest, layer[offset as usize..]);

    // Everything already there: nothing to fetch.
    let none = collect(
        client
            .fetch_blob(&repo, &descriptor, descriptor.size)
            .await
            .unwrap(),
    )
    .await;
    assert!(none.is_empty());
    let err = client
        .fetch_blob(&repo, &descriptor, descriptor.size + 1)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidOffset { .. }), "{err}");

    // The verifying stream and the AsyncRead view.
    let verified = collect(
        client
            .fetch_blob_verified(&repo, &descriptor)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(verified, *layer);
    let mut reader = client
        .fetch_blob(&repo, &descriptor, 10)
        .await
        .unwrap()
        .into_reader();
    let mut read = Vec::new();
    reader.read_to_end(&mut read).await.unwrap();
    assert_eq!(read, layer[10..]);

    // A config read whole.
    let config = client
        .fetch_blob_bytes(&repo, &img.config_descriptor())
        .await
        .unwrap();
    assert_eq!(config, img.config);

    assert_eq!(
        client.head_blob(&repo, &descriptor.digest).await.unwrap(),
        Some(descriptor.size)
    );
    let unknown = Digest::sha256_of(b"never pushed");
    assert_eq!(client.head_blob(&repo, &unknown).await.unwrap(), None);
    let err = client
        .fetch_blob(
            &repo,
            &Descriptor::new(media_type::OCI_LAYER_TAR, unknown.clone(), 12),
            0,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::BlobUnknown { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&unknown.to_string()) && text.contains("blobs"),
        "{text}"
    );
}

#[tokio::test]
async fn a_descriptor_with_the_wrong_size_is_caught() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let repo = reference(&registry.host, "sizes:v1");
    let blob = data(5000, 9);
    let pushed = client
        .push_blob_bytes(&repo, bytes::Bytes::from(blob.clone()))
        .await
        .unwrap();
    let mut small = pushed.clone();
    small.size = 4000;
    let err = client.fetch_blob(&repo, &small, 0).await.unwrap_err();
    assert!(matches!(err, ClientError::SizeMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains(&pushed.digest.to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn blobs_mount_across_repositories() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let from = reference(&registry.host, "source/app");
    let to = reference(&registry.host, "target/app");
    let pushed = client
        .push_blob_bytes(&from, bytes::Bytes::from(data(777, 3)))
        .await
        .unwrap();
    assert_eq!(client.head_blob(&to, &pushed.digest).await.unwrap(), None);
    assert_eq!(
        client.mount_blob(&to, &pushed.digest, &from).await.unwrap(),
        Mount::Mounted
    );
    assert_eq!(
        client.head_blob(&to, &pushed.digest).await.unwrap(),
        Some(777)
    );
    let unknown = Digest::sha256_of(b"nowhere");
    assert_eq!(
        client.mount_blob(&to, &unknown, &from).await.unwrap(),
        Mount::NotMounted
    );
}

#[tokio::test]
async fn downloads_run_concurrently_within_the_limit() {
    let registry = registry_or_skip!(Auth::None);
    let mut config = crate::support::fixtures::config();
    config.max_concurrent_downloads = 2;
    let client = wharf_client::Client::new(config).unwrap();
    let img = random_image("linux/amd64", &[200_000, 300_000, 400_000, 500_000], 21);
    let repo = reference(&registry.host, "many:v1");
    push_image(&client, &repo, &img).await;
    let tasks: Vec<_> = img
        .layers
        .iter()
        .map(|layer| {
            let client = client.clone();
            let repo = repo.clone();
            let descriptor = layer.descriptor();
            tokio::spawn(async move {
                let stream = client
                    .fetch_blob_verified(&repo, &descriptor)
                    .await
                    .unwrap();
                Digest::sha256_of(&collect(stream).await) == descriptor.digest
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
}
