//! The readable report of `j0 admin audit-ledger`.

use std::fmt::Write;

use j0_domain::Cents;
use j0_ports::ledger::AuditReport;

/// The report as text: a summary line per invariant, `OK` or `BREACH` with the offenders.
pub fn render(report: &AuditReport) -> String {
    let mut out = String::new();
    let mut line = |ok: bool, what: &str, detail: String| {
        let _ = writeln!(
            out,
            "{} {what}{detail}",
            if ok { "OK    " } else { "BREACH" }
        );
    };
    line(
        report.unbalanced_transfers.is_empty(),
        "every transfer balances",
        format!(
            " ({} transfers, {} entries){}",
            report.transfers,
            report.entries,
            listed(&report.unbalanced_transfers)
        ),
    );
    line(
        report.accounts_sum == Cents::ZERO,
        "all accounts sum to zero",
        format!(" (sum {})", report.accounts_sum),
    );
    line(
        report.escrow_balance == report.open_job_credits,
        "escrow equals the credits of open jobs",
        format!(
            " (escrow {}, open jobs {})",
            report.escrow_balance, report.open_job_credits
        ),
    );
    let offender_lists = [
        (
            "no user account is negative",
            listed(&report.negative_users),
        ),
        (
            "user balances equal their entries",
            listed(&report.balance_mismatches),
        ),
        (
            "history rows match transfers",
            listed(&report.history_mismatches),
        ),
        (
            "every job has the transfers its status implies",
            listed(&report.job_mismatches),
        ),
    ];
    for (what, offenders) in offender_lists {
        line(offenders.is_empty(), what, offenders);
    }
    let _ = write!(
        out,
        "{}",
        if report.is_clean() {
            "ledger is clean"
        } else {
            "ledger has breaches"
        }
    );
    out
}

fn listed<T: std::fmt::Debug>(items: &[T]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(": {items:?}")
    }
}
