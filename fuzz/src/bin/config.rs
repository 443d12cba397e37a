//! Fuzz target: wafermon::fuzzing::config (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon::fuzzing::config(data));
}
