//! Fuzz target: wafermon::fuzzing::event_input (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon::fuzzing::event_input(data));
}
