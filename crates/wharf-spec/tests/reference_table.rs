//! Table tests for image references, ported from distribution/reference's
//! `normalize_test.go`, `reference_test.go` and `regexp_test.go` (all run through
//! `ParseNormalizedNamed` semantics) plus wharf's own edge cases.
//!
//! Valid rows are `input | domain | path | tag | digest | familiar | canonical` where `-`
//! means "none" (never a valid tag or digest), and `{name}` placeholders expand to the long
//! digests below. The expected normalized string is assembled from the expected parts.

use wharf_spec::{Algorithm, Digest, Reference, ReferenceError};

const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "{f256}",
        "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    (
        "{f512}",
        "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    (
        "{dbcc}",
        "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
    ),
    (
        "{e669}",
        "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
    ),
    (
        "{be17}",
        "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
    ),
    (
        "{86e0}",
        "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
    ),
    (
        "{hex64}",
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    ),
    (
        "{hex63}",
        "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
    ),
    (
        "{F64}",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
    ),
    (
        "{f128}",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    (
        "{f96}",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    (
        "{f64}",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    (
        "{f63}",
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    ("{f34}", "ffffffffffffffffffffffffffffffffff"),
    ("{f32}", "ffffffffffffffffffffffffffffffff"),
    ("{f31}", "fffffffffffffffffffffffffffffff"),
];

fn expand(template: &str) -> String {
    PLACEHOLDERS
        .iter()
        .fold(template.to_string(), |s, (k, v)| s.replace(k, v))
}

/// input | domain | path | tag | digest | familiar | canonical
const VALID: &[&str] = &[
    // --- normalize_test.go TestParseAnyReference (name forms) ---
    "redis | docker.io | library/redis | - | - | redis | docker.io/library/redis:latest",
    "redis:latest | docker.io | library/redis | latest | - | redis:latest | docker.io/library/redis:latest",
    "docker.io/library/redis:latest | docker.io | library/redis | latest | - | redis:latest | docker.io/library/redis:latest",
    "redis@{dbcc} | docker.io | library/redis | - | {dbcc} | redis@{dbcc} | docker.io/library/redis@{dbcc}",
    "docker.io/library/redis@{dbcc} | docker.io | library/redis | - | {dbcc} | redis@{dbcc} | docker.io/library/redis@{dbcc}",
    "dmcgowan/myapp | docker.io | dmcgowan/myapp | - | - | dmcgowan/myapp | docker.io/dmcgowan/myapp:latest",
    "dmcgowan/myapp:latest | docker.io | dmcgowan/myapp | latest | - | dmcgowan/myapp:latest | docker.io/dmcgowan/myapp:latest",
    "docker.io/mcgowan/myapp:latest | docker.io | mcgowan/myapp | latest | - | mcgowan/myapp:latest | docker.io/mcgowan/myapp:latest",
    "dmcgowan/myapp@{dbcc} | docker.io | dmcgowan/myapp | - | {dbcc} | dmcgowan/myapp@{dbcc} | docker.io/dmcgowan/myapp@{dbcc}",
    "docker.io/dmcgowan/myapp@{dbcc} | docker.io | dmcgowan/myapp | - | {dbcc} | dmcgowan/myapp@{dbcc} | docker.io/dmcgowan/myapp@{dbcc}",
    "{hex63} | docker.io | library/{hex63} | - | - | {hex63} | docker.io/library/{hex63}:latest",
    "dbcc1 | docker.io | library/dbcc1 | - | - | dbcc1 | docker.io/library/dbcc1:latest",
    // --- TestParseReferenceWithTagAndDigest ---
    "busybox:latest@{86e0} | docker.io | library/busybox | latest | {86e0} | busybox:latest@{86e0} | docker.io/library/busybox@{86e0}",
    // --- TestParseDockerRef ---
    "busybox | docker.io | library/busybox | - | - | busybox | docker.io/library/busybox:latest",
    "busybox@{e669} | docker.io | library/busybox | - | {e669} | busybox@{e669} | docker.io/library/busybox@{e669}",
    "library/busybox | docker.io | library/busybox | - | - | busybox | docker.io/library/busybox:latest",
    "docker.io/busybox | docker.io | library/busybox | - | - | busybox | docker.io/library/busybox:latest",
    "docker.io/library/busybox | docker.io | library/busybox | - | - | busybox | docker.io/library/busybox:latest",
    "docker.io/busybox:latest | docker.io | library/busybox | latest | - | busybox:latest | docker.io/library/busybox:latest",
    "library/busybox:latest | docker.io | library/busybox | latest | - | busybox:latest | docker.io/library/busybox:latest",
    "gcr.io/library/busybox | gcr.io | library/busybox | - | - | gcr.io/library/busybox | gcr.io/library/busybox:latest",
    "gcr.io/library/busybox:latest@{e669} | gcr.io | library/busybox | latest | {e669} | gcr.io/library/busybox:latest@{e669} | gcr.io/library/busybox@{e669}",
    // --- TestValidateReferenceName (valid) ---
    "docker/docker | docker.io | docker/docker | - | - | docker/docker | docker.io/docker/docker:latest",
    "library/debian | docker.io | library/debian | - | - | debian | docker.io/library/debian:latest",
    "debian | docker.io | library/debian | - | - | debian | docker.io/library/debian:latest",
    "docker.io/docker/docker | docker.io | docker/docker | - | - | docker/docker | docker.io/docker/docker:latest",
    "docker.io/library/debian | docker.io | library/debian | - | - | debian | docker.io/library/debian:latest",
    "docker.io/debian | docker.io | library/debian | - | - | debian | docker.io/library/debian:latest",
    "index.docker.io/docker/docker | docker.io | docker/docker | - | - | docker/docker | docker.io/docker/docker:latest",
    "index.docker.io/library/debian | docker.io | library/debian | - | - | debian | docker.io/library/debian:latest",
    "index.docker.io/debian | docker.io | library/debian | - | - | debian | docker.io/library/debian:latest",
    "127.0.0.1:5000/docker/docker | 127.0.0.1:5000 | docker/docker | - | - | 127.0.0.1:5000/docker/docker | 127.0.0.1:5000/docker/docker:latest",
    "127.0.0.1:5000/library/debian | 127.0.0.1:5000 | library/debian | - | - | 127.0.0.1:5000/library/debian | 127.0.0.1:5000/library/debian:latest",
    "127.0.0.1:5000/debian | 127.0.0.1:5000 | debian | - | - | 127.0.0.1:5000/debian | 127.0.0.1:5000/debian:latest",
    "192.168.0.1 | docker.io | library/192.168.0.1 | - | - | 192.168.0.1 | docker.io/library/192.168.0.1:latest",
    "192.168.0.1:80 | docker.io | library/192.168.0.1 | 80 | - | 192.168.0.1:80 | docker.io/library/192.168.0.1:80",
    "192.168.0.1:8/debian | 192.168.0.1:8 | debian | - | - | 192.168.0.1:8/debian | 192.168.0.1:8/debian:latest",
    "192.168.0.2:25000/debian | 192.168.0.2:25000 | debian | - | - | 192.168.0.2:25000/debian | 192.168.0.2:25000/debian:latest",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev | docker.io | library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev | - | - | thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev | docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
    "[fc00::1]:5000/docker | [fc00::1]:5000 | docker | - | - | [fc00::1]:5000/docker | [fc00::1]:5000/docker:latest",
    "[fc00::1]:5000/docker/docker | [fc00::1]:5000 | docker/docker | - | - | [fc00::1]:5000/docker/docker | [fc00::1]:5000/docker/docker:latest",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian | [fc00:1:2:3:4:5:6:7]:5000 | library/debian | - | - | [fc00:1:2:3:4:5:6:7]:5000/library/debian | [fc00:1:2:3:4:5:6:7]:5000/library/debian:latest",
    // A 64-hex name is fine once a host removes the ambiguity with an image ID.
    "docker.io/{hex64} | docker.io | library/{hex64} | - | - | {hex64} | docker.io/library/{hex64}:latest",
    // Upper case makes the first component a host.
    "Docker/docker | Docker | docker | - | - | Docker/docker | Docker/docker:latest",
    "DOCKER/docker | DOCKER | docker | - | - | DOCKER/docker | DOCKER/docker:latest",
    // --- TestValidateRemoteName (valid) ---
    "docker-rules/docker | docker.io | docker-rules/docker | - | - | docker-rules/docker | docker.io/docker-rules/docker:latest",
    "docker---rules/docker | docker.io | docker---rules/docker | - | - | docker---rules/docker | docker.io/docker---rules/docker:latest",
    "doc/docker | docker.io | doc/docker | - | - | doc/docker | docker.io/doc/docker:latest",
    "d/docker | docker.io | d/docker | - | - | d/docker | docker.io/d/docker:latest",
    "jess/t | docker.io | jess/t | - | - | jess/t | docker.io/jess/t:latest",
    "dock__er/docker | docker.io | dock__er/docker | - | - | dock__er/docker | docker.io/dock__er/docker:latest",
    // --- TestParseRepositoryInfo ---
    "fooo/bar | docker.io | fooo/bar | - | - | fooo/bar | docker.io/fooo/bar:latest",
    "index.docker.io/fooo/bar | docker.io | fooo/bar | - | - | fooo/bar | docker.io/fooo/bar:latest",
    "nonlibrary/ubuntu | docker.io | nonlibrary/ubuntu | - | - | nonlibrary/ubuntu | docker.io/nonlibrary/ubuntu:latest",
    "other/library | docker.io | other/library | - | - | other/library | docker.io/other/library:latest",
    "127.0.0.1:8000/private/moonbase | 127.0.0.1:8000 | private/moonbase | - | - | 127.0.0.1:8000/private/moonbase | 127.0.0.1:8000/private/moonbase:latest",
    "127.0.0.1:8000/privatebase | 127.0.0.1:8000 | privatebase | - | - | 127.0.0.1:8000/privatebase | 127.0.0.1:8000/privatebase:latest",
    "example.com/private/moonbase | example.com | private/moonbase | - | - | example.com/private/moonbase | example.com/private/moonbase:latest",
    "example.com/privatebase | example.com | privatebase | - | - | example.com/privatebase | example.com/privatebase:latest",
    "example.com:8000/private/moonbase | example.com:8000 | private/moonbase | - | - | example.com:8000/private/moonbase | example.com:8000/private/moonbase:latest",
    "example.com:8000/privatebasee | example.com:8000 | privatebasee | - | - | example.com:8000/privatebasee | example.com:8000/privatebasee:latest",
    "ubuntu-12.04-base | docker.io | library/ubuntu-12.04-base | - | - | ubuntu-12.04-base | docker.io/library/ubuntu-12.04-base:latest",
    "index.docker.io/library/ubuntu-12.04-base | docker.io | library/ubuntu-12.04-base | - | - | ubuntu-12.04-base | docker.io/library/ubuntu-12.04-base:latest",
    // `library/` is only dropped when nothing is nested below it.
    "library/foo/bar | docker.io | library/foo/bar | - | - | library/foo/bar | docker.io/library/foo/bar:latest",
    "docker.io/library/foo/bar | docker.io | library/foo/bar | - | - | library/foo/bar | docker.io/library/foo/bar:latest",
    "store/foo/bar | docker.io | store/foo/bar | - | - | store/foo/bar | docker.io/store/foo/bar:latest",
    "Foo/bar | Foo | bar | - | - | Foo/bar | Foo/bar:latest",
    "FOO/bar | FOO | bar | - | - | FOO/bar | FOO/bar:latest",
    // --- TestNormalizedSplitHostname ---
    "test.com/foo | test.com | foo | - | - | test.com/foo | test.com/foo:latest",
    "test_com/foo | docker.io | test_com/foo | - | - | test_com/foo | docker.io/test_com/foo:latest",
    "docker/migrator | docker.io | docker/migrator | - | - | docker/migrator | docker.io/docker/migrator:latest",
    "test.com:8080/foo | test.com:8080 | foo | - | - | test.com:8080/foo | test.com:8080/foo:latest",
    "test-com:8080/foo | test-com:8080 | foo | - | - | test-com:8080/foo | test-com:8080/foo:latest",
    "foo | docker.io | library/foo | - | - | foo | docker.io/library/foo:latest",
    "xn--n3h.com/foo | xn--n3h.com | foo | - | - | xn--n3h.com/foo | xn--n3h.com/foo:latest",
    "xn--n3h.com:18080/foo | xn--n3h.com:18080 | foo | - | - | xn--n3h.com:18080/foo | xn--n3h.com:18080/foo:latest",
    // --- reference_test.go TestReferenceParse (normalized) ---
    "test_com | docker.io | library/test_com | - | - | test_com | docker.io/library/test_com:latest",
    "test.com:tag | docker.io | library/test.com | tag | - | test.com:tag | docker.io/library/test.com:tag",
    "test.com:5000 | docker.io | library/test.com | 5000 | - | test.com:5000 | docker.io/library/test.com:5000",
    "test.com/repo:tag | test.com | repo | tag | - | test.com/repo:tag | test.com/repo:tag",
    "test:5000/repo | test:5000 | repo | - | - | test:5000/repo | test:5000/repo:latest",
    "test:5000/repo:tag | test:5000 | repo | tag | - | test:5000/repo:tag | test:5000/repo:tag",
    "test:5000/repo@{f256} | test:5000 | repo | - | {f256} | test:5000/repo@{f256} | test:5000/repo@{f256}",
    "test:5000/repo:tag@{f256} | test:5000 | repo | tag | {f256} | test:5000/repo:tag@{f256} | test:5000/repo@{f256}",
    "lowercase:Uppercase | docker.io | library/lowercase | Uppercase | - | lowercase:Uppercase | docker.io/library/lowercase:Uppercase",
    "sub-dom1.foo.com/bar/baz/quux | sub-dom1.foo.com | bar/baz/quux | - | - | sub-dom1.foo.com/bar/baz/quux | sub-dom1.foo.com/bar/baz/quux:latest",
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag | sub-dom1.foo.com | bar/baz/quux | some-long-tag | - | sub-dom1.foo.com/bar/baz/quux:some-long-tag | sub-dom1.foo.com/bar/baz/quux:some-long-tag",
    "b.gcr.io/test.example.com/my-app:test.example.com | b.gcr.io | test.example.com/my-app | test.example.com | - | b.gcr.io/test.example.com/my-app:test.example.com | b.gcr.io/test.example.com/my-app:test.example.com",
    "xn--n3h.com/myimage:xn--n3h.com | xn--n3h.com | myimage | xn--n3h.com | - | xn--n3h.com/myimage:xn--n3h.com | xn--n3h.com/myimage:xn--n3h.com",
    "xn--7o8h.com/myimage:xn--7o8h.com@{f512} | xn--7o8h.com | myimage | xn--7o8h.com | {f512} | xn--7o8h.com/myimage:xn--7o8h.com@{f512} | xn--7o8h.com/myimage@{f512}",
    "foo_bar.com:8080 | docker.io | library/foo_bar.com | 8080 | - | foo_bar.com:8080 | docker.io/library/foo_bar.com:8080",
    "foo/foo_bar.com:8080 | docker.io | foo/foo_bar.com | 8080 | - | foo/foo_bar.com:8080 | docker.io/foo/foo_bar.com:8080",
    "192.168.1.1:tag | docker.io | library/192.168.1.1 | tag | - | 192.168.1.1:tag | docker.io/library/192.168.1.1:tag",
    "192.168.1.1/repo | 192.168.1.1 | repo | - | - | 192.168.1.1/repo | 192.168.1.1/repo:latest",
    "192.168.1.1:5000/repo:5050 | 192.168.1.1:5000 | repo | 5050 | - | 192.168.1.1:5000/repo:5050 | 192.168.1.1:5000/repo:5050",
    "[2001:db8::1]/repo | [2001:db8::1] | repo | - | - | [2001:db8::1]/repo | [2001:db8::1]/repo:latest",
    "[2001:db8:1:2:3:4:5:6]/repo:tag | [2001:db8:1:2:3:4:5:6] | repo | tag | - | [2001:db8:1:2:3:4:5:6]/repo:tag | [2001:db8:1:2:3:4:5:6]/repo:tag",
    "[2001:db8::1]:5000/repo | [2001:db8::1]:5000 | repo | - | - | [2001:db8::1]:5000/repo | [2001:db8::1]:5000/repo:latest",
    "[2001:db8::1]:5000/repo@{f256} | [2001:db8::1]:5000 | repo | - | {f256} | [2001:db8::1]:5000/repo@{f256} | [2001:db8::1]:5000/repo@{f256}",
    "[2001:db8::1]:5000/repo:tag@{f256} | [2001:db8::1]:5000 | repo | tag | {f256} | [2001:db8::1]:5000/repo:tag@{f256} | [2001:db8::1]:5000/repo@{f256}",
    "[2001:db8::]:5000/repo | [2001:db8::]:5000 | repo | - | - | [2001:db8::]:5000/repo | [2001:db8::]:5000/repo:latest",
    "[::1]:5000/repo | [::1]:5000 | repo | - | - | [::1]:5000/repo | [::1]:5000/repo:latest",
    // --- regexp_test.go TestDomainRegexp (as `<domain>/foo`) ---
    "localhost/foo | localhost | foo | - | - | localhost/foo | localhost/foo:latest",
    "localhost:8080/foo | localhost:8080 | foo | - | - | localhost:8080/foo | localhost:8080/foo:latest",
    "a.b/foo | a.b | foo | - | - | a.b/foo | a.b/foo:latest",
    "ab.cd.com/foo | ab.cd.com | foo | - | - | ab.cd.com/foo | ab.cd.com/foo:latest",
    "a-b.com/foo | a-b.com | foo | - | - | a-b.com/foo | a-b.com/foo:latest",
    "ab.c-om/foo | ab.c-om | foo | - | - | ab.c-om/foo | ab.c-om/foo:latest",
    "0101.com/foo | 0101.com | foo | - | - | 0101.com/foo | 0101.com/foo:latest",
    "001a.com/foo | 001a.com | foo | - | - | 001a.com/foo | 001a.com/foo:latest",
    "b.gbc.io:443/foo | b.gbc.io:443 | foo | - | - | b.gbc.io:443/foo | b.gbc.io:443/foo:latest",
    "Asdf.com/foo/bar | Asdf.com | foo/bar | - | - | Asdf.com/foo/bar | Asdf.com/foo/bar:latest",
    // Ports are digits only; their range is not checked (as in Docker).
    "192.168.1.1:75050/foo | 192.168.1.1:75050 | foo | - | - | 192.168.1.1:75050/foo | 192.168.1.1:75050/foo:latest",
    "[fd00:1:2::3]:75050/foo | [fd00:1:2::3]:75050 | foo | - | - | [fd00:1:2::3]:75050/foo | [fd00:1:2::3]:75050/foo:latest",
    "[fd00123123123]:75050/foo | [fd00123123123]:75050 | foo | - | - | [fd00123123123]:75050/foo | [fd00123123123]:75050/foo:latest",
    "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050/foo | [2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050 | foo | - | - | [2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050/foo | [2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050/foo:latest",
    // --- regexp_test.go TestFullNameRegexp / TestReferenceRegexp (valid) ---
    "a/a/a/a | docker.io | a/a/a/a | - | - | a/a/a/a | docker.io/a/a/a/a:latest",
    "aa-a/a | docker.io | aa-a/a | - | - | aa-a/a | docker.io/aa-a/a:latest",
    "foo_bar | docker.io | library/foo_bar | - | - | foo_bar | docker.io/library/foo_bar:latest",
    "foo_bar.com | docker.io | library/foo_bar.com | - | - | foo_bar.com | docker.io/library/foo_bar.com:latest",
    "foo.com/foo_bar | foo.com | foo_bar | - | - | foo.com/foo_bar | foo.com/foo_bar:latest",
    "example.com/some_separator__underscore/myimage | example.com | some_separator__underscore/myimage | - | - | example.com/some_separator__underscore/myimage | example.com/some_separator__underscore/myimage:latest",
    "do__cker/docker | docker.io | do__cker/docker | - | - | do__cker/docker | docker.io/do__cker/docker:latest",
    "registry.io/foo/project--id.module--name.ver---sion--name | registry.io | foo/project--id.module--name.ver---sion--name | - | - | registry.io/foo/project--id.module--name.ver---sion--name | registry.io/foo/project--id.module--name.ver---sion--name:latest",
    "registry.com:8080/myapp:tag | registry.com:8080 | myapp | tag | - | registry.com:8080/myapp:tag | registry.com:8080/myapp:tag",
    "registry.com:8080/myapp@{be17} | registry.com:8080 | myapp | - | {be17} | registry.com:8080/myapp@{be17} | registry.com:8080/myapp@{be17}",
    "registry.com:8080/myapp:tag2@{be17} | registry.com:8080 | myapp | tag2 | {be17} | registry.com:8080/myapp:tag2@{be17} | registry.com:8080/myapp@{be17}",
    // Without a `/`, `localhost:8080` is the name `localhost` with tag `8080`.
    "localhost:8080@{be17} | docker.io | library/localhost | 8080 | {be17} | localhost:8080@{be17} | docker.io/library/localhost@{be17}",
    "localhost:8080/name@{be17} | localhost:8080 | name | - | {be17} | localhost:8080/name@{be17} | localhost:8080/name@{be17}",
    "localhost@{be17} | docker.io | library/localhost | - | {be17} | localhost@{be17} | docker.io/library/localhost@{be17}",
    // --- wharf edge cases ---
    "localhost | docker.io | library/localhost | - | - | localhost | docker.io/library/localhost:latest",
    "localhost:5000 | docker.io | library/localhost | 5000 | - | localhost:5000 | docker.io/library/localhost:5000",
    "localhost:5000/x@{f256} | localhost:5000 | x | - | {f256} | localhost:5000/x@{f256} | localhost:5000/x@{f256}",
    "localhost/library/x | localhost | library/x | - | - | localhost/library/x | localhost/library/x:latest",
    "redis:7 | docker.io | library/redis | 7 | - | redis:7 | docker.io/library/redis:7",
    "redis:7@{dbcc} | docker.io | library/redis | 7 | {dbcc} | redis:7@{dbcc} | docker.io/library/redis@{dbcc}",
    "redis@{f512} | docker.io | library/redis | - | {f512} | redis@{f512} | docker.io/library/redis@{f512}",
    "redis:7@{f512} | docker.io | library/redis | 7 | {f512} | redis:7@{f512} | docker.io/library/redis@{f512}",
    "redis:_tag | docker.io | library/redis | _tag | - | redis:_tag | docker.io/library/redis:_tag",
    "redis:v1.2.3-rc.1_B | docker.io | library/redis | v1.2.3-rc.1_B | - | redis:v1.2.3-rc.1_B | docker.io/library/redis:v1.2.3-rc.1_B",
    "index.docker.io/library/redis:7@{f256} | docker.io | library/redis | 7 | {f256} | redis:7@{f256} | docker.io/library/redis@{f256}",
    // `sha256:<hex>` is not an image ID: it is repository `sha256` with a 64-character tag.
    "sha256:{hex64} | docker.io | library/sha256 | {hex64} | - | sha256:{hex64} | docker.io/library/sha256:{hex64}",
    "{hex64}:latest | docker.io | library/{hex64} | latest | - | {hex64}:latest | docker.io/library/{hex64}:latest",
    "library | docker.io | library/library | - | - | library | docker.io/library/library:latest",
    "docker.io/library | docker.io | library/library | - | - | library | docker.io/library/library:latest",
    "a.b.c | docker.io | library/a.b.c | - | - | a.b.c | docker.io/library/a.b.c:latest",
    "a--b/c---d | docker.io | a--b/c---d | - | - | a--b/c---d | docker.io/a--b/c---d:latest",
    "a__b/c_d.e-f | docker.io | a__b/c_d.e-f | - | - | a__b/c_d.e-f | docker.io/a__b/c_d.e-f:latest",
    "FOO.example.com:5000/team/app:v2 | FOO.example.com:5000 | team/app | v2 | - | FOO.example.com:5000/team/app:v2 | FOO.example.com:5000/team/app:v2",
    // Only the exact host `docker.io` is Docker Hub: a port or another Hub host is a registry.
    "docker.io:443/x | docker.io:443 | x | - | - | docker.io:443/x | docker.io:443/x:latest",
    "registry-1.docker.io/library/redis | registry-1.docker.io | library/redis | - | - | registry-1.docker.io/library/redis | registry-1.docker.io/library/redis:latest",
    "ghcr.io/owner/image/sub/path:1.0 | ghcr.io | owner/image/sub/path | 1.0 | - | ghcr.io/owner/image/sub/path:1.0 | ghcr.io/owner/image/sub/path:1.0",
    // Docker's FamiliarString ambiguity, kept: `foo.bar/baz` would re-parse with host `foo.bar`.
    "docker.io/foo.bar/baz | docker.io | foo.bar/baz | - | - | foo.bar/baz | docker.io/foo.bar/baz:latest",
];

/// (input, phrase the error message must contain)
const INVALID: &[(&str, &str)] = &[
    // --- reference_test.go TestReferenceParse (errors) ---
    ("", "repository name must have at least one component"),
    (":justtag", "repository name must have at least one component"),
    ("@{f256}", "repository name must have at least one component"),
    ("repo@sha256:{f34}", "invalid checksum digest length"),
    ("validname@invaliddigest:{f64}", "unsupported digest algorithm"),
    ("Uppercase:tag", "repository name (library/Uppercase) must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
    ("aa/asdf$$^/aa", "path component `asdf$$^`"),
    ("[2001:db8::1]", "invalid reference format"),
    ("[2001:db8::1]:5000", "invalid reference format"),
    ("[2001:db8::1]:tag", "invalid reference format"),
    ("[fe80::1%eth0]:5000/repo", "IPv6 registry host"),
    // The first `@` starts the digest, so the name left over is `[fe80::1%`.
    ("[fe80::1%@invalidzone]:5000/repo", "invalid reference format"),
    // --- normalize_test.go TestValidateReferenceName (invalid) ---
    ("https://github.com/docker/docker", "registry port"),
    ("docker/Docker", "repository name (docker/Docker) must be lowercase"),
    ("-docker", "path component `-docker`"),
    ("-docker/docker", "path component `-docker`"),
    ("-docker.io/docker/docker", "registry host `-docker.io`"),
    ("docker///docker", "empty component"),
    ("docker.io/docker/Docker", "must be lowercase"),
    ("docker.io/docker///docker", "empty component"),
    ("[fc00::1]", "invalid reference format"),
    ("[fc00::1]:5000", "invalid reference format"),
    ("fc00::1:5000/debian", "registry port"),
    ("[fe80::1%eth0]:5000/debian", "IPv6 registry host"),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", "IPv6 registry host"),
    ("{hex64}", "cannot specify 64-byte hexadecimal strings"),
    // --- TestValidateRemoteName (invalid) ---
    ("-docker-/docker", "path component"),
    ("docker-/docker", "path component `docker-`"),
    ("____/____", "path component `____`"),
    ("_docker/_docker", "path component `_docker`"),
    ("dock..er/docker", "registry host `dock..er`"),
    ("dock_.er/docker", "registry host"),
    ("dock-.er/docker", "registry host"),
    ("docker/", "empty component"),
    ("this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker", "repository name must not be more than 255 characters"),
    // --- regexp_test.go TestDomainRegexp (invalid, as `<domain>/foo`) ---
    ("test.com:http/foo", "registry port `:http`"),
    ("-ab.com/foo", "registry host"),
    ("ab-.com/foo", "registry host"),
    ("ab.-com/foo", "registry host"),
    ("ab.com-/foo", "registry host"),
    ("[fd00:1:2::3]75050/foo", "registry port `75050`"),
    ("[fd00:1:2::3]::75050/foo", "registry port `::75050`"),
    ("[fd00:1:2::3%eth0]:75050/foo", "IPv6 registry host"),
    ("fd00:1:2::3:75050/foo", "registry port"),
    // Without `:` (or `.`) a bracketed first component is not a host at all (as in Docker).
    ("[fd00123123123]/foo", "path component `[fd00123123123]`"),
    // --- TestFullNameRegexp (invalid) ---
    ("a/a/a/a/", "empty component"),
    ("a//a/a", "empty component"),
    ("foo.com/", "empty component"),
    ("a^a", "path component `a^a`"),
    ("asdf$$^/aa", "path component"),
    ("a-/a/a/a", "path component `a-`"),
    ("foo.com/a-/a/a", "path component `a-`"),
    ("foo/bar-", "path component `bar-`"),
    ("foo-/bar", "path component `foo-`"),
    ("foo/-bar", "path component `-bar`"),
    ("_foo/bar", "path component `_foo`"),
    ("foo_bar.com:8080/app", "registry host `foo_bar.com`"),
    ("docker_/docker_", "path component `docker_`"),
    ("example.com/__underscore/myimage", "path component `__underscore`"),
    ("example.com/..dots/myimage", "path component `..dots`"),
    ("example.com/.dots/myimage", "path component `.dots`"),
    ("example.com/nodouble..dots/myimage", "path component `nodouble..dots`"),
    ("docker./docker", "registry host `docker.`"),
    (".docker/docker", "registry host `.docker`"),
    ("do..cker/docker", "registry host"),
    ("do__cker:8080/docker", "registry host `do__cker`"),
    ("Foo/FarB", "repository name (FarB) must be lowercase"),
    // --- TestReferenceRegexp (invalid) ---
    ("registry.com:8080/myapp@sha256:badbadbadbad", "invalid checksum digest format"),
    ("registry.com:8080/myapp:invalid~tag", "invalid tag format"),
    ("bad_hostname.com:8080/myapp:tag", "registry host `bad_hostname.com`"),
    ("localhost:http/name@{be17}", "registry port `:http`"),
    ("registry.com:8080/myapp@bad", "invalid checksum digest format"),
    ("registry.com:8080/myapp@2bad", "invalid checksum digest format"),
    // --- tags ---
    ("redis:", "`:` must be followed by a tag"),
    ("redis:@{f256}", "`:` must be followed by a tag"),
    ("redis:-foo", "invalid tag format: tag `-foo`"),
    ("redis:.foo", "invalid tag format: tag `.foo`"),
    ("redis:t%g", "invalid tag format"),
    ("redis:tåg", "invalid tag format"),
    ("redis:tag:x", "path component `redis:tag`"),
    ("redis:7 ", "invalid tag format"),
    // --- digests ---
    ("redis@", "`@` must be followed by a digest"),
    ("redis:7@", "`@` must be followed by a digest"),
    ("redis@sha256", "invalid checksum digest format"),
    ("redis@sha256:{F64}", "invalid checksum digest format: the hex of"),
    ("redis@sha384:{f96}", "unsupported digest algorithm `sha384`"),
    ("redis@md5:{f32}", "unsupported digest algorithm `md5`"),
    ("redis@SHA256:{f64}", "unsupported digest algorithm `SHA256`"),
    ("redis@sha512:{f64}", "invalid checksum digest length: sha512 needs 128 hex characters, found 64"),
    ("redis@sha256:{f128}", "invalid checksum digest length: sha256 needs 64 hex characters, found 128"),
    ("redis@sha256:{f63}", "invalid checksum digest length"),
    ("redis@sha256:g{f63}", "invalid checksum digest format"),
    ("redis@sha256:{f31}", "invalid checksum digest format"),
    ("redis@@{f256}", "invalid checksum digest format"),
    ("redis@{f256}:tag", "invalid checksum digest format"),
    ("redis@{f256}@{f256}", "invalid checksum digest format"),
    ("redis@3sha:{f64}", "invalid checksum digest format"),
    // --- path separators ---
    ("a___b", "path component `a___b`"),
    ("a.-b", "path component `a.-b`"),
    ("a_.b", "path component `a_.b`"),
    ("a-_b", "path component `a-_b`"),
    ("/redis", "empty component"),
    ("redis/", "empty component"),
    ("//redis", "empty component"),
    ("docker.io/", "empty component"),
    ("localhost/", "empty component"),
    ("a/b:c/d", "path component `b:c`"),
    (" redis", "path component"),
    ("rédis", "path component `rédis`"),
    // --- hosts ---
    // Docker reports an upper-case first component that is no valid host as upper case.
    ("Foo_Bar/x", "repository name (Foo_Bar/x) must be lowercase"),
    ("ÄBC/x", "must be lowercase"),
    // wharf refuses what Docker would turn into a domain-less reference.
    ("foo_bar.com/x", "registry host `foo_bar.com`"),
    ("é.com/x", "registry host"),
    ("[::1/x", "IPv6 registry host `[::1`"),
    ("[]:5000/x", "IPv6 registry host `[]:5000`"),
    (":5000/x", "registry host ``"),
    ("localhost:/x", "registry port `:`"),
    ("localhost:5000a/x", "registry port `:5000a`"),
    ("a[::1]/x", "registry host"),
];

struct Valid {
    input: String,
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
    familiar: String,
    canonical: String,
}

fn optional(field: &str) -> Option<String> {
    (field != "-").then(|| field.to_string())
}

fn parse_row(row: &str) -> Valid {
    let fields: Vec<String> = expand(row)
        .split(" | ")
        .map(|f| f.trim().to_string())
        .collect();
    assert_eq!(fields.len(), 7, "malformed table row: {row}");
    Valid {
        input: fields[0].clone(),
        domain: fields[1].clone(),
        path: fields[2].clone(),
        tag: optional(&fields[3]),
        digest: optional(&fields[4]),
        familiar: fields[5].clone(),
        canonical: fields[6].clone(),
    }
}

/// Rows whose inputs are too long to write out: path and tag length limits.
fn generated_valid() -> Vec<Valid> {
    let a255 = "a".repeat(255);
    let a247 = "a".repeat(247);
    let t128 = "t".repeat(128);
    let nested = format!("{}a", "a/".repeat(127));
    let row = |input: String,
               domain: &str,
               path: &str,
               tag: Option<&str>,
               familiar: String,
               canonical: String| Valid {
        input,
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest: None,
        familiar,
        canonical,
    };
    vec![
        // 255 path characters are allowed; the domain does not count (distribution/reference#9).
        row(
            format!("example.com/{a255}:tag"),
            "example.com",
            &a255,
            Some("tag"),
            format!("example.com/{a255}:tag"),
            format!("example.com/{a255}:tag"),
        ),
        // `library/` counts: 8 + 247 = 255.
        row(
            a247.clone(),
            "docker.io",
            &format!("library/{a247}"),
            None,
            a247.clone(),
            format!("docker.io/library/{a247}:latest"),
        ),
        row(
            format!("{nested}:tag-puts-this-over-max"),
            "docker.io",
            &nested,
            Some("tag-puts-this-over-max"),
            format!("{nested}:tag-puts-this-over-max"),
            format!("docker.io/{nested}:tag-puts-this-over-max"),
        ),
        row(
            format!("redis:{t128}"),
            "docker.io",
            "library/redis",
            Some(&t128),
            format!("redis:{t128}"),
            format!("docker.io/library/redis:{t128}"),
        ),
    ]
}

fn generated_invalid() -> Vec<(String, &'static str)> {
    let too_long = "repository name must not be more than 255 characters";
    vec![
        (format!("domain/{}:tag", "a".repeat(256)), too_long),
        (format!("{}a:tag", "a/".repeat(128)), too_long),
        (format!("example.com/{}", "a".repeat(256)), too_long),
        ("a".repeat(248), too_long),
        (
            format!("redis:{}", "t".repeat(129)),
            "tag must not be more than 128 characters (has 129)",
        ),
        (
            format!("redis:-{}", "t".repeat(200)),
            "invalid tag format: tag `-",
        ),
        ("redis\n".to_string(), "path component `redis\\n`"),
        (
            "redis:7\u{0}".to_string(),
            "invalid tag format: tag `7\\u{0}`",
        ),
    ]
}

fn expected_normalized(case: &Valid) -> String {
    let mut s = format!("{}/{}", case.domain, case.path);
    if let Some(tag) = &case.tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = &case.digest {
        s.push('@');
        s.push_str(digest);
    }
    s
}

/// Every observable of a valid reference, collected as mismatch descriptions.
fn check_valid(case: &Valid) -> Vec<String> {
    let input = &case.input;
    let r = match Reference::parse_normalized(input) {
        Ok(r) => r,
        Err(e) => return vec![format!("{input}: unexpected error: {e}")],
    };
    let normalized = expected_normalized(case);
    let mut problems = Vec::new();
    let mut expect = |what: &str, got: String, want: &str| {
        if got != want {
            problems.push(format!("{input}: {what}: got `{got}`, want `{want}`"));
        }
    };
    expect("domain", r.domain().to_string(), &case.domain);
    expect("path", r.path().to_string(), &case.path);
    expect(
        "tag",
        format!("{:?}", r.tag()),
        &format!("{:?}", case.tag.as_deref()),
    );
    expect(
        "digest",
        format!("{:?}", r.digest().map(ToString::to_string)),
        &format!("{:?}", case.digest),
    );
    expect("name", r.name(), &format!("{}/{}", case.domain, case.path));
    expect("normalized", r.normalized(), &normalized);
    expect("Display", r.to_string(), &normalized);
    expect("familiar", r.familiar(), &case.familiar);
    expect("canonical", r.canonical().normalized(), &case.canonical);
    let suffix = &normalized[case.domain.len() + 1 + case.path.len()..];
    let familiar_name = case
        .familiar
        .strip_suffix(suffix)
        .unwrap_or("<suffix mismatch>");
    expect("familiar_name", r.familiar_name(), familiar_name);
    expect(
        "is_docker_hub",
        r.is_docker_hub().to_string(),
        &(case.domain == "docker.io").to_string(),
    );
    let reparsed = |s: &str, qualified: bool| {
        let parsed = if qualified {
            Reference::parse_qualified(s)
        } else {
            Reference::parse_normalized(s)
        };
        match parsed {
            Ok(p) if p == r => "same".to_string(),
            Ok(p) => format!("different: {p:?}"),
            Err(e) => format!("error: {e}"),
        }
    };
    expect("reparse normalized", reparsed(&normalized, false), "same");
    expect(
        "parse_qualified(normalized)",
        reparsed(&normalized, true),
        "same",
    );
    expect(
        "FromStr",
        format!("{:?}", input.parse::<Reference>().as_ref() == Ok(&r)),
        "true",
    );
    problems
}

fn check_invalid(input: &str, phrase: &str) -> Option<String> {
    let err = match Reference::parse_normalized(input) {
        Ok(r) => {
            return Some(format!(
                "{input:?}: accepted as {r}, want error with `{phrase}`"
            ))
        }
        Err(e) => e,
    };
    let msg = err.to_string();
    if !msg.contains(phrase) {
        return Some(format!("{input:?}: message `{msg}` lacks `{phrase}`"));
    }
    if msg.contains('\n') || !msg.starts_with("invalid reference `") {
        return Some(format!(
            "{input:?}: message is not one `invalid reference` line: {msg:?}"
        ));
    }
    if Reference::parse_qualified(input).as_ref() != Err(&err) {
        return Some(format!(
            "{input:?}: parse_qualified disagrees with parse_normalized"
        ));
    }
    None
}

#[test]
fn table_of_valid_and_invalid_references() {
    let valid: Vec<Valid> = VALID
        .iter()
        .map(|row| parse_row(row))
        .chain(generated_valid())
        .collect();
    let invalid: Vec<(String, &str)> = INVALID
        .iter()
        .map(|(input, phrase)| (expand(input), *phrase))
        .chain(generated_invalid())
        .collect();

    let mut problems: Vec<String> = valid.iter().flat_map(check_valid).collect();
    problems.extend(
        invalid
            .iter()
            .filter_map(|(input, phrase)| check_invalid(input, phrase)),
    );

    let total = valid.len() + invalid.len();
    assert!(total >= 150, "table shrank to {total} cases");
    assert!(
        problems.is_empty(),
        "{} of {total} cases failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn parse_qualified_requires_the_normalized_form() {
    let canonical = [
        "docker.io/library/redis",
        "docker.io/library/redis:7",
        "docker.io/library/redis:7@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
        "docker.io/user/app",
        "localhost:5000/x",
        "[::1]:5000/x:tag",
        "Foo/bar",
        "ghcr.io/a/b/c",
    ];
    for input in canonical {
        let r = Reference::parse_qualified(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.normalized(), input);
    }
    let not_canonical = [
        ("redis", "docker.io/library/redis"),
        ("redis:7", "docker.io/library/redis:7"),
        ("docker.io/redis", "docker.io/library/redis"),
        ("index.docker.io/library/redis", "docker.io/library/redis"),
        ("library/redis", "docker.io/library/redis"),
        ("user/app", "docker.io/user/app"),
    ];
    for (input, want) in not_canonical {
        let err = Reference::parse_qualified(input).unwrap_err();
        assert_eq!(
            err,
            ReferenceError::NotCanonical {
                input: input.to_string(),
                canonical: want.to_string()
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("repository name must be canonical"), "{msg}");
        assert!(msg.contains(&format!("`{input}`")), "{msg}");
    }
}

#[test]
fn with_tag_and_with_digest_replace_the_pin() {
    let digest = Digest::of_bytes(Algorithm::Sha256, b"x");
    let r = Reference::parse_normalized("redis:7").unwrap();

    let pinned = r.with_digest(digest.clone());
    assert_eq!(pinned.tag(), None);
    assert_eq!(pinned.digest(), Some(&digest));
    assert_eq!(pinned.familiar(), format!("redis@{digest}"));

    let retagged = pinned.with_tag("8").unwrap();
    assert_eq!(retagged.normalized(), "docker.io/library/redis:8");
    assert_eq!(retagged.digest(), None);

    assert_eq!(r.with_tag("TAG5").unwrap().familiar(), "redis:TAG5");
    for bad in ["", "-foo", ".x", "a/b", "a:b", "é"] {
        let err = r.with_tag(bad).unwrap_err().to_string();
        assert!(
            err.contains("invalid tag format") || err.contains("invalid reference format"),
            "{bad}: {err}"
        );
    }
    let long = "t".repeat(129);
    assert!(r
        .with_tag(&long)
        .unwrap_err()
        .to_string()
        .contains("128 characters"));
    assert!(r.with_tag(&"t".repeat(128)).is_ok());
}

#[test]
fn canonical_is_what_docker_pulls() {
    let cases = [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1", "docker.io/library/busybox:1"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
    ];
    for (input, want) in cases {
        let canonical = Reference::parse_normalized(input).unwrap().canonical();
        assert_eq!(canonical.normalized(), want);
        assert_eq!(canonical.canonical(), canonical);
    }
}

#[test]
fn tag_or_latest_and_docker_hub() {
    let r = Reference::parse_normalized("redis").unwrap();
    assert_eq!(r.tag_or_latest(), "latest");
    assert!(r.is_docker_hub());
    let r = Reference::parse_normalized("index.docker.io/user/app:v1").unwrap();
    assert_eq!(r.tag_or_latest(), "v1");
    assert!(r.is_docker_hub());
    let r = Reference::parse_normalized("quay.io/user/app").unwrap();
    assert!(!r.is_docker_hub());
}

#[test]
fn serde_uses_the_normalized_string() {
    let r = Reference::parse_normalized("user/app:1").unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, "\"docker.io/user/app:1\"");
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    assert_eq!(
        serde_json::from_str::<Reference>("\"user/app:1\"").unwrap(),
        r
    );
    let err = serde_json::from_str::<Reference>("\"User/App\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("must be lowercase"), "{err}");
}

#[test]
fn familiar_form_of_hub_names_with_dots_is_ambiguous_as_in_docker() {
    // Docker's FamiliarString drops `docker.io/`, and the result reads as a registry host.
    let r = Reference::parse_normalized("docker.io/foo.bar/baz").unwrap();
    assert_eq!(r.familiar(), "foo.bar/baz");
    let again = Reference::parse_normalized(&r.familiar()).unwrap();
    assert_eq!(again.domain(), "foo.bar");
    // And a 64-hex official name cannot be typed back in familiar form at all.
    let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    let r = Reference::parse_normalized(&format!("docker.io/{hex}")).unwrap();
    assert!(Reference::parse_normalized(&r.familiar()).is_err());
}

#[test]
fn huge_inputs_get_short_one_line_messages() {
    let input = format!("{}\n{}", "A".repeat(10_000), "b".repeat(10_000));
    let msg = Reference::parse_normalized(&input).unwrap_err().to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.len() < 2_000, "{} bytes", msg.len());
}
