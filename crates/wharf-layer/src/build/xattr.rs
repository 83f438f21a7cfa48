//! Extended attributes of a path, without following a symlink (`llistxattr`,
//! `lgetxattr`).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Host-specific labels: the container runtime sets its own, and copying the build
/// host's would make digests depend on the machine.
const SKIPPED: &[&[u8]] = &[b"security.selinux"];

/// Every xattr of `path` (except SELinux labels), sorted by name. A filesystem without
/// xattr support has none.
pub fn read(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let names = match list(&c_path) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if SKIPPED.contains(&name) {
            continue;
        }
        let c_name = CString::new(name).expect("split at NUL");
        match get(&c_path, &c_name) {
            Ok(value) => out.push((name.to_vec(), value)),
            // Removed between the listing and the read.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort();
    Ok(out)
}

fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP))
}

/// Calls a size-then-fill xattr function, retrying if the value grew in between.
fn sized(mut call: impl FnMut(*mut libc::c_void, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let len = call(std::ptr::null_mut(), 0);
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; len as usize];
        let got = call(buf.as_mut_ptr().cast(), buf.len());
        if got < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue;
            }
            return Err(e);
        }
        buf.truncate(got as usize);
        return Ok(buf);
    }
}

fn list(path: &CString) -> io::Result<Vec<u8>> {
    // SAFETY: `path` is NUL-terminated; `buf`/`len` describe a writable buffer (or null/0
    // to ask for the size).
    sized(|buf, len| unsafe { libc::llistxattr(path.as_ptr(), buf.cast(), len) })
}

fn get(path: &CString, name: &CString) -> io::Result<Vec<u8>> {
    // SAFETY: as in `list`.
    sized(|buf, len| unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf, len) })
}
