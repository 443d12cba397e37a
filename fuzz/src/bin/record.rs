//! Fuzz target: wafermon::fuzzing::record (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon::fuzzing::record(data));
}
