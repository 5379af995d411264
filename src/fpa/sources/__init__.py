"""One module per source contract (../shared/contracts/README.md)."""
