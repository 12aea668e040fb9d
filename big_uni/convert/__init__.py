"""Importers of published weights into big_uni parameter trees (numpy, no pickle anywhere)."""
