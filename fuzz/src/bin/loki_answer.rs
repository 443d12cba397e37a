//! Fuzz target: wafermon::fuzzing::loki_answer (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon::fuzzing::loki_answer(data));
}
