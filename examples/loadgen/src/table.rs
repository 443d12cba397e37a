//! The summary table a benchmark run ends with: one row per measure, its goal and verdict.

pub struct Row {
    pub measure: String,
    pub result: String,
    pub goal: String,
    pub verdict: &'static str,
}

pub fn print_table(rows: &[Row]) {
    let w0 = rows
        .iter()
        .map(|r| r.measure.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let w1 = rows
        .iter()
        .map(|r| r.result.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let w2 = rows.iter().map(|r| r.goal.len()).max().unwrap_or(0).max(4);
    println!(
        "| {:<w0$} | {:<w1$} | {:<w2$} | {:<12} |",
        "measure", "result", "goal", "verdict"
    );
    println!(
        "|{}|{}|{}|{}|",
        "-".repeat(w0 + 2),
        "-".repeat(w1 + 2),
        "-".repeat(w2 + 2),
        "-".repeat(14)
    );
    for r in rows {
        println!(
            "| {:<w0$} | {:<w1$} | {:<w2$} | {:<12} |",
            r.measure, r.result, r.goal, r.verdict
        );
    }
}
