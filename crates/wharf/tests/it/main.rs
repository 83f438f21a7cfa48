//! Integration tests of the `wharf` binary: one test binary, fixtures built in code.

mod append;
mod bad_input;
mod command_line;
mod commit;
mod copy;
mod crash;
mod fsck;
mod history;
mod images;
mod inspect;
mod interop;
mod layers;
mod load;
mod mutate;
mod output_pipe;
mod pull;
mod pull_auth;
mod pull_faults;
mod push;
mod reference;
mod remote;
mod serve;
mod serve_auth;
mod serve_limits;
mod serve_pg;
mod sync;
mod tag_rmi;
mod unpack;
mod usage;
mod web;

mod smoke {
    use wharf_testkit::cli::*;
    use wharf_testkit::fixtures::*;

    #[test]
    fn every_archive_kind_loads() {
        let w = Wharf::new();
        let base = base_layer();
        let a = image_on(&base, "a");
        let b = image_on(&base, "b");
        let dir = w.path("layout");
        write_image_layout(&dir, &a, "v1");
        assert_eq!(
            w.ok(&["load", "-i", s(&dir), "-t", "app"]),
            "Loaded image: app:v1\n"
        );
        let archive = w.write("b.tar", &docker_archive(&[(&b, &["b:1"])]));
        assert_eq!(w.ok(&["load", "-i", s(&archive)]), "Loaded image: b:1\n");
        let d25 = w.write("c.tar", &gzip(&docker25_archive(&a, "c", "2")));
        assert_eq!(w.ok(&["load", "-i", s(&d25)]), "Loaded image: c:2\n");
        let index = named_index(a.manifest.descriptor(), "v1");
        let oci = w.write("d.tar", &oci_archive(&b.blobs(), &index));
        assert_eq!(
            w.ok(&["load", "-i", s(&oci), "-t", "d"]),
            "Loaded image: d:v1\n"
        );
        assert!(w.ok(&["fsck"]).contains("clean"));
    }
}
