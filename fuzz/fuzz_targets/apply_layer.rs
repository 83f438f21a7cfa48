//! Any bytes as a layer: applying them may fail, but must never panic, and must never
//! create, change or remove anything outside the target directory.
#![no_main]

use std::fs;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wharf_layer::apply::{self, Applier, ApplyOptions, Root, WhiteoutMode};

fn listing(dir: &Path) -> Vec<(String, u64, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = fs::symlink_metadata(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.mode(),
            )
        })
        .collect();
    out.sort();
    out
}

fuzz_target!(|data: &[u8]| {
    let scene = tempfile::tempdir().unwrap();
    let root = scene.path().join("root");
    let outside = scene.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"keep").unwrap();
    let before = (listing(scene.path()), listing(&outside));
    for mode in [WhiteoutMode::Apply, WhiteoutMode::Record] {
        let target = root.join(format!("{mode:?}"));
        fs::create_dir(&target).unwrap();
        let options = ApplyOptions::for_this_process(mode);
        if mode == WhiteoutMode::Record && !options.privileged {
            continue;
        }
        let mut applier = Applier::new(Root::open(&target).unwrap(), options);
        // Twice: the second pass meets whatever the first one planted.
        let _ = apply::apply_tar(data, &mut applier, None);
        let _ = applier.begin_layer();
        let _ = apply::apply_tar(data, &mut applier, None);
        let _ = applier.finish();
    }
    let after = (listing(scene.path()), listing(&outside));
    assert_eq!(before.1, after.1, "the sentinel directory changed");
    assert_eq!(
        after.0.iter().map(|e| &e.0).collect::<Vec<_>>(),
        ["outside", "root"],
        "something appeared beside the target"
    );
});
