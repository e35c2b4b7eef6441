//! How every failure is logged: the error with each of its sources, so a line such as "payment
//! provider unavailable" also says why (the connection refused, the timeout, the status).

/// Displays an error with its sources, `a: b: c`.
///
/// ```
/// use j0_ports::{ErrorChain, StoreError};
///
/// let refused = std::io::Error::other("connection refused");
/// let error = StoreError::Unavailable(Box::new(refused));
/// assert_eq!(ErrorChain(&error).to_string(), "storage unavailable: connection refused");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'a));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("payment provider unavailable")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn prints_every_source_in_order() {
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "payment provider unavailable: connection refused"
        );
    }
}
