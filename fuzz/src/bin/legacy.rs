//! Fuzz target: wafermon::fuzzing::legacy (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon::fuzzing::legacy(data));
}
