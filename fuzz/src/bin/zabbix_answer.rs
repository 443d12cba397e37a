//! Fuzz target: wafermon::fuzzing::zabbix_answer (what it reads is described there).
fn main() {
    afl::fuzz!(|data: &[u8]| wafermon::fuzzing::zabbix_answer(data));
}
