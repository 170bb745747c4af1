"""The demo: the credit-default story day by day, its data simulators and its gateway traffic."""
