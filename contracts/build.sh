#!/usr/bin/env bash
# Rebuilds contracts/TestUSDC.bin, the creation bytecode the tests deploy to a local anvil node.
#
# The compiler is the npm `solc` package pinned in the root package.json (`npm ci` at the
# workspace root installs it); the version is checked here too, so the committed bytecode always
# comes from the same compiler and settings. `bytecodeHash: none` leaves the source's hash out of
# the bytecode: editing a comment does not change it.
set -euo pipefail
cd "$(dirname "$0")/.."

SOLC_VERSION=0.8.37
[ -d node_modules/solc ] || npm ci --no-audit --no-fund

SOLC_VERSION="$SOLC_VERSION" node - <<'JS'
const fs = require("fs");
const solc = require(require.resolve("solc", { paths: [process.cwd()] }));

const want = process.env.SOLC_VERSION;
if (!solc.version().startsWith(want + "+")) {
  console.error(`solc ${solc.version()} installed, ${want} pinned: run npm ci at the workspace root`);
  process.exit(1);
}

const input = {
  language: "Solidity",
  sources: { "TestUSDC.sol": { content: fs.readFileSync("contracts/TestUSDC.sol", "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    // Base and anvil both run Cancun or later.
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { TestUSDC: ["evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

const bin = output.contracts["TestUSDC.sol"].TestUSDC.evm.bytecode.object;
fs.writeFileSync("contracts/TestUSDC.bin", bin + "\n");
console.log(`contracts/TestUSDC.bin: ${bin.length / 2} bytes, solc ${solc.version()}`);
JS
