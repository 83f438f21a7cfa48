//! Layers built from real directories, read back with the `tar` crate.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use super::*;

fn dir_source(path: &Path) -> LayerSource {
    LayerSource::Directory {
        path: path.to_path_buf(),
        dest: String::new(),
    }
}

fn build(source: &LayerSource, options: &BuildOptions) -> (Vec<u8>, BuiltLayer) {
    build_layer(source, options, Vec::new()).unwrap()
}

fn options(compression: Compression) -> BuildOptions {
    BuildOptions {
        compression,
        ..BuildOptions::default()
    }
}

pub(super) fn set_mtime(path: &Path, secs: i64) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    ];
    // SAFETY: valid NUL-terminated path and a two-element array.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0);
}

/// A tree with one of everything an unprivileged test can make.
fn tree(root: &Path) {
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::write(root.join("etc/os-release"), "ID=wharf\n").unwrap();
    fs::write(root.join("bin/tool"), b"\x7fELF tool").unwrap();
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(root.join("bin/tool"), root.join("bin/tool-link")).unwrap();
    symlink("../etc/os-release", root.join("bin/release")).unwrap();
    let long_dir = root.join("d".repeat(120));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("f".repeat(110)), "long").unwrap();
    // SAFETY: valid NUL-terminated path.
    let fifo = std::ffi::CString::new(root.join("pipe").as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
}

struct Seen {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    mtime: u64,
    link: Option<String>,
    content: Vec<u8>,
}

fn read_back(blob: &[u8]) -> Vec<Seen> {
    let (_, decoded) = crate::decompress(blob).unwrap();
    let mut archive = tar::Archive::new(decoded);
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let mut content = Vec::new();
        e.read_to_end(&mut content).unwrap();
        out.push(Seen {
            path: e.path().unwrap().to_string_lossy().into_owned(),
            kind: e.header().entry_type(),
            mode: e.header().mode().unwrap(),
            uid: e.header().uid().unwrap(),
            mtime: e.header().mtime().unwrap(),
            link: e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned()),
            content,
        });
    }
    out
}

#[test]
fn a_directory_becomes_sorted_entries_of_every_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    tree(&root);
    let (blob, built) = build(&dir_source(&root), &options(Compression::Gzip));
    assert_eq!(built.compression, Compression::Gzip);
    assert_eq!(crate::diff_id(&blob[..]).unwrap().digest, built.diff_id);

    let seen = read_back(&blob);
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(110));
    assert_eq!(
        paths,
        [
            "bin/",
            "bin/release",
            "bin/tool",
            "bin/tool-link",
            &format!("{}/", "d".repeat(120)),
            &long,
            "empty/",
            "etc/",
            "etc/os-release",
            "pipe",
        ]
    );
    assert_eq!(built.entries, 10);
    let by = |p: &str| seen.iter().find(|s| s.path == p).unwrap();
    assert_eq!(by("bin/tool").mode, 0o4755);
    assert_eq!(by("bin/tool").content, b"\x7fELF tool");
    assert_eq!(by("bin/tool-link").kind, tar::EntryType::Link);
    assert_eq!(by("bin/tool-link").link.as_deref(), Some("bin/tool"));
    assert_eq!(by("bin/release").kind, tar::EntryType::Symlink);
    assert_eq!(by("bin/release").link.as_deref(), Some("../etc/os-release"));
    assert_eq!(by("pipe").kind, tar::EntryType::Fifo);
    assert_eq!(by("empty/").kind, tar::EntryType::Directory);
    assert_eq!(by(&long).content, b"long");
}

#[test]
fn the_same_tree_gives_the_same_digest_and_a_change_another() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    tree(&a);
    tree(&b);
    // Different real mtimes, all later than the epoch: clamped to the same value.
    set_mtime(&a.join("etc/os-release"), 2_000_000_000);
    let normalize = Normalize {
        source_date_epoch: Some(1_000_000_000),
        owner: Some((0, 0)),
    };
    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let opts = BuildOptions {
            compression,
            normalize: normalize.clone(),
            threads: Some(1),
            ..BuildOptions::default()
        };
        let (blob_a, built_a) = build(&dir_source(&a), &opts);
        let more_threads = BuildOptions {
            threads: Some(3),
            ..opts.clone()
        };
        let (blob_b, built_b) = build(&dir_source(&b), &more_threads);
        assert_eq!(built_a.diff_id, built_b.diff_id, "{compression:?}");
        assert_eq!(blob_a, blob_b, "{compression:?}");
        assert!(read_back(&blob_a)
            .iter()
            .all(|s| s.mtime <= 1_000_000_000 && s.uid == 0));
    }
    fs::write(b.join("etc/os-release"), "ID=other\n").unwrap();
    let opts = BuildOptions {
        normalize,
        ..BuildOptions::default()
    };
    assert_ne!(
        build(&dir_source(&a), &opts).1.diff_id,
        build(&dir_source(&b), &opts).1.diff_id
    );
}

#[test]
fn an_old_mtime_stays_and_owners_are_kept_without_normalizing() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("old"), "x").unwrap();
    set_mtime(&tmp.path().join("old"), 1234);
    let opts = BuildOptions {
        normalize: Normalize {
            source_date_epoch: Some(1_000_000_000),
            owner: None,
        },
        ..BuildOptions::default()
    };
    let seen = read_back(&build(&dir_source(tmp.path()), &opts).0);
    assert_eq!(seen[0].mtime, 1234);
    // SAFETY: getuid has no preconditions.
    assert_eq!(seen[0].uid, unsafe { libc::getuid() } as u64);
}

#[test]
fn a_destination_places_the_tree_under_it() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("index.html"), "hi").unwrap();
    let source = LayerSource::Directory {
        path: tmp.path().to_path_buf(),
        dest: "usr/share/html".into(),
    };
    let seen = read_back(&build(&source, &options(Compression::Zstd)).0);
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["usr/share/html/", "usr/share/html/index.html"]);
}

#[test]
fn user_xattrs_are_written_as_pax_records() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("noted");
    fs::write(&file, "x").unwrap();
    let c_path = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).unwrap();
    let value = b"v\x00bin";
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c"user.wharf".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        eprintln!(
            "skipping: this filesystem refuses user xattrs ({})",
            std::io::Error::last_os_error()
        );
        return;
    }
    let (blob, _) = build(&dir_source(tmp.path()), &options(Compression::None));
    let mut archive = tar::Archive::new(&blob[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let pax: Vec<(String, Vec<u8>)> = entry
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|x| x.unwrap())
        .map(|x| (x.key().unwrap().to_string(), x.value_bytes().to_vec()))
        .collect();
    assert_eq!(
        pax,
        [("SCHILY.xattr.user.wharf".to_string(), value.to_vec())]
    );
}

#[test]
fn a_tar_file_is_kept_as_is_or_recompressed() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    tree(&content);
    let plain = build(&dir_source(&content), &options(Compression::None)).0;
    let plain_path = tmp.path().join("layer.tar");
    fs::write(&plain_path, &plain).unwrap();
    let gz_path = tmp.path().join("layer.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    fs::write(&gz_path, &gz).unwrap();

    // Already gzip, gzip wanted: the file's own bytes.
    let (blob, built) = build(
        &LayerSource::Tarball {
            path: gz_path.clone(),
        },
        &options(Compression::Gzip),
    );
    assert_eq!(blob, gz);
    assert_eq!(built.diff_id, wharf_spec::Digest::sha256_of(&plain));
    assert_eq!(built.entries, 10);
    // Plain, zstd wanted: re-encoded, same content.
    let (blob, built) = build(
        &LayerSource::Tarball { path: plain_path },
        &options(Compression::Zstd),
    );
    assert_eq!(built.compression, Compression::Zstd);
    assert_eq!(crate::diff_id(&blob[..]).unwrap().digest, built.diff_id);
    assert_eq!(built.diff_id, wharf_spec::Digest::sha256_of(&plain));
}

#[test]
fn bad_sources_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let err = check_source(&dir_source(&missing)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`{}` does not exist", missing.display())
    );

    let text = tmp.path().join("notes.txt");
    fs::write(&text, "this is not a tar archive, just some words").unwrap();
    let source = LayerSource::Tarball { path: text.clone() };
    check_source(&source).unwrap();
    let err = build_layer(&source, &options(Compression::Gzip), Vec::new()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("`{}` is not a tar archive", text.display())),
        "{err}"
    );
    let err = check_source(&dir_source(&text)).unwrap_err();
    assert!(matches!(err, BuildError::NotADirectory(_)), "{err}");
}

#[test]
fn a_tar_file_without_its_last_padding_is_a_layer_and_a_cut_one_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let last = vec![b'q'; 300];
    let unpadded = wharf_testkit::fixtures::LayerTar::new()
        .file("a", b"a")
        .file("b", &last)
        .finish_unpadded(last.len());
    let path = tmp.path().join("umoci.tar");
    fs::write(&path, &unpadded).unwrap();
    let source = LayerSource::Tarball { path: path.clone() };
    for compression in [Compression::None, Compression::Gzip] {
        let (blob, built) = build(&source, &options(compression));
        assert_eq!(built.entries, 2);
        assert_eq!(built.diff_id, wharf_spec::Digest::sha256_of(&unpadded));
        if compression == Compression::None {
            assert_eq!(blob, unpadded, "kept byte for byte");
        }
    }
    fs::write(&path, &unpadded[..unpadded.len() - 1]).unwrap();
    let err = build_layer(&source, &options(Compression::Gzip), Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("ends inside an entry's content"),
        "{err}"
    );
}
