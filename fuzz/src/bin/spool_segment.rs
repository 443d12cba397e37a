//! Fuzz target: wafermon::fuzzing::spool_segment (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon::fuzzing::spool_segment(data));
}
