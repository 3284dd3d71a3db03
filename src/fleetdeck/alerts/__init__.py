"""Alert rules and their streaming evaluation."""
