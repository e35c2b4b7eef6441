//! The EVM chains USDC deposits arrive on.

/// Chain ids (EIP-155) of the development and public test networks j0 knows: anvil and
/// Hardhat, Ganache, Base Sepolia, Ethereum Sepolia and Holesky. Their tokens are worth nothing.
pub const TEST_CHAIN_IDS: [u64; 5] = [31337, 1337, 84532, 11155111, 17000];

/// Whether tokens on chain `chain_id` may be real money: every chain but the known test and
/// development ones, so an unknown chain counts as real.
///
/// ```
/// use j0_domain::chain::holds_real_money;
///
/// assert!(holds_real_money(8453), "Base");
/// assert!(!holds_real_money(84532), "Base Sepolia");
/// assert!(holds_real_money(424242), "a chain j0 has never heard of");
/// ```
pub fn holds_real_money(chain_id: u64) -> bool {
    !TEST_CHAIN_IDS.contains(&chain_id)
}
