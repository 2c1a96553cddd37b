"""Model contract and behaviour tests."""
