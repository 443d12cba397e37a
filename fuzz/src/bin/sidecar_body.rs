//! Fuzz target: wafermon_hostkit::fuzzing::sidecar_body (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon_hostkit::fuzzing::sidecar_body(data));
}
