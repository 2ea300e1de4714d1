"""The synthetic nation: a population and its agencies' source systems, with ground truth."""
