"""The releases of the published labour-market indicators."""
