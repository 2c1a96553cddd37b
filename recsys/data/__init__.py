"""Data contract, dataset registry, fetching, preparation and the `Interactions` value."""
