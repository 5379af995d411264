"""`fpa generate`: realistic deliveries that follow the contracts, and the truth they imply."""
